//! The dashboard's charts as inline SVG: events per minute (bars) and queue depth (a line per
//! queue) over the last hour. Text in them is escaped like the rest of the page; nothing is
//! fetched from anywhere.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::page::esc;
use crate::queue::DepthSample;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
/// Room for the axis labels.
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// Line colours, one per queue in turn (readable on white, distinct in grey scale too).
const COLOURS: [&str; 6] = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0f766e"];

/// A round maximum for the y axis at or above `max` (1, 2, 5 × 10ⁿ).
fn nice_max(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// The frame: the y axis' top label and zero, and the x axis' labels at the hour's start,
/// middle and end.
fn frame(svg: &mut String, y_max: i64, since: DateTime<Utc>, minutes: i64) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#9ca3af"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#9ca3af"/><text x="{}" y="{}" text-anchor="end" class="axis">{y_max}</text><text x="{}" y="{base}" text-anchor="end" class="axis">0</text>"##,
        LEFT - 4.0,
        TOP + 8.0,
        LEFT - 4.0,
    );
    for (i, anchor) in [(0, "start"), (minutes / 2, "middle"), (minutes - 1, "end")] {
        let at = since + chrono::Duration::minutes(i);
        let x = LEFT + (WIDTH - LEFT) * (i as f64 + 0.5) / minutes as f64;
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{}" text-anchor="{anchor}" class="axis">{}</text>"#,
            HEIGHT - 4.0,
            at.format("%H:%M")
        );
    }
}

/// Events per minute: one bar per minute from `since`, each titled with its minute and count.
pub(super) fn events_per_minute(per_minute: &[i64], since: DateTime<Utc>) -> String {
    let minutes = per_minute.len().max(1) as i64;
    let y_max = nice_max(per_minute.iter().copied().max().unwrap_or(0));
    let mut svg = format!(
        r#"<svg id="events-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="events per minute over the last hour">"#
    );
    frame(&mut svg, y_max, since, minutes);
    let slot = (WIDTH - LEFT) / minutes as f64;
    let base = HEIGHT - BOTTOM;
    for (i, &count) in per_minute.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let height = (base - TOP) * count as f64 / y_max as f64;
        let at = since + chrono::Duration::minutes(i as i64);
        let _ = write!(
            svg,
            r##"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="#2563eb"><title>{}: {count} events</title></rect>"##,
            LEFT + slot * i as f64 + 1.0,
            base - height,
            (slot - 2.0).max(1.0),
            at.format("%H:%M"),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Queue depth: a line per queue through its samples (a dot where only one), and its name in
/// the legend. `current` (the figures read now) ends each line at the present minute.
pub(super) fn queue_depth(
    samples: &[DepthSample],
    current: &[(String, i64)],
    since: DateTime<Utc>,
    minutes: i64,
) -> String {
    let mut queues: Vec<&str> = samples.iter().map(|s| s.queue.as_str()).collect();
    queues.extend(current.iter().map(|(q, _)| q.as_str()));
    queues.sort_unstable();
    queues.dedup();
    let y_max = nice_max(
        samples
            .iter()
            .map(|s| s.depth)
            .chain(current.iter().map(|(_, d)| *d))
            .max()
            .unwrap_or(0),
    );
    let mut svg = format!(
        r#"<svg id="depth-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="queue depth over the last hour">"#
    );
    frame(&mut svg, y_max, since, minutes);
    let base = HEIGHT - BOTTOM;
    let x_of = |minute: i64| LEFT + (WIDTH - LEFT) * (minute as f64 + 0.5) / minutes as f64;
    let y_of = |depth: i64| base - (base - TOP) * depth as f64 / y_max as f64;
    let mut legend = String::new();
    for (n, queue) in queues.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut points: Vec<(i64, i64)> = samples
            .iter()
            .filter(|s| s.queue == *queue)
            .map(|s| ((s.minute - since).num_minutes(), s.depth))
            .filter(|(m, _)| (0..minutes).contains(m))
            .collect();
        if let Some((_, depth)) = current.iter().find(|(q, _)| q == queue) {
            points.retain(|(m, _)| *m != minutes - 1);
            points.push((minutes - 1, *depth));
        }
        let path: Vec<String> = points
            .iter()
            .map(|(m, d)| format!("{:.1},{:.1}", x_of(*m), y_of(*d)))
            .collect();
        if path.len() > 1 {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
                path.join(" "),
                esc(queue)
            );
        }
        for (m, d) in &points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{} at {}: {d}</title></circle>"#,
                x_of(*m),
                y_of(*d),
                esc(queue),
                (since + chrono::Duration::minutes(*m)).format("%H:%M")
            );
        }
        let _ = write!(
            legend,
            r#"<span class="legend"><span class="swatch" style="background:{colour}"></span>{}</span>"#,
            esc(queue)
        );
    }
    svg.push_str("</svg>");
    format!("{svg}<div>{legend}</div>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_y_axis_ends_at_a_round_number_at_or_above_the_largest_value() {
        assert_eq!([0, 1, 3, 7, 10, 11, 180].map(nice_max), [1, 1, 5, 10, 10, 20, 200]);
    }

    #[test]
    fn a_bar_is_drawn_per_minute_with_events_and_titled_with_its_count() {
        let mut per_minute = vec![0; 60];
        per_minute[0] = 4;
        per_minute[59] = 2;
        let svg = events_per_minute(&per_minute, at("2026-12-02T17:00:00Z"));
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("<title>17:00: 4 events</title>"), "{svg}");
        assert!(svg.contains("<title>17:59: 2 events</title>"), "{svg}");
    }

    #[test]
    fn queue_names_are_escaped_and_each_queue_gets_a_line_to_the_present() {
        let since = at("2026-12-02T17:00:00Z");
        let samples = vec![DepthSample {
            queue: "<q>".into(),
            minute: at("2026-12-02T17:10:00Z"),
            depth: 3,
            ready: 3,
            failed: 0,
            oldest_age: None,
        }];
        let svg = queue_depth(&samples, &[("<q>".into(), 1)], since, 60);
        assert!(svg.contains("&lt;q&gt;") && !svg.contains("<q>"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
