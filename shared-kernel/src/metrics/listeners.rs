//! Per-listener figures read back from this process's recorder: the very series `/metrics`
//! exports (runs, failures and the duration histogram of every listener), parsed from the
//! rendered text, so the events dashboard shows what a Prometheus scrape would.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{LISTENER_DURATION, LISTENER_RUNS, LISTENERS_FAILED};

/// One listener's figures in this process since it started.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerFigures {
    /// The listener.
    pub listener: String,
    /// `sync` or `queued`.
    pub mode: String,
    /// Runs (a queued run is one try).
    pub runs: u64,
    /// Runs that failed.
    pub failed: u64,
    /// The mean duration of a run.
    pub mean: Option<Duration>,
    /// The 95th percentile of a run's duration, estimated from the histogram's buckets as
    /// Prometheus' `histogram_quantile` does (linear within the bucket).
    pub p95: Option<Duration>,
}

#[derive(Default)]
struct Series {
    runs: u64,
    failed: u64,
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

/// Parses one sample line `name{a="x",b="y"} value` into its name, labels and value.
fn sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        other => other.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series, BTreeMap::new(), value));
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut text = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => text.push('\n'),
                    other => text.push(other),
                },
                '"' => break,
                c => text.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_owned(), text);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((name, labels, value))
}

/// The per-listener figures in `rendered` (the Prometheus text format), by listener and mode.
pub fn listener_figures(rendered: &str) -> Vec<ListenerFigures> {
    let mut series: BTreeMap<(String, String), Series> = BTreeMap::new();
    let bucket = format!("{LISTENER_DURATION}_bucket");
    let sum = format!("{LISTENER_DURATION}_sum");
    let count = format!("{LISTENER_DURATION}_count");
    for line in rendered.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let (Some(listener), Some(mode)) = (labels.get("listener"), labels.get("mode")) else {
            continue;
        };
        let entry = series.entry((listener.clone(), mode.clone())).or_default();
        // Counters and bucket counts are whole numbers rendered as floats.
        let whole = value.max(0.0) as u64;
        match name {
            n if n == LISTENER_RUNS => entry.runs = whole,
            n if n == LISTENERS_FAILED => entry.failed = whole,
            n if n == sum => entry.sum = value,
            n if n == count => entry.count = whole,
            n if n == bucket => {
                let le = labels.get("le").and_then(|le| match le.as_str() {
                    "+Inf" => Some(f64::INFINITY),
                    other => other.parse().ok(),
                });
                if let Some(le) = le {
                    entry.buckets.push((le, whole));
                }
            }
            _ => {}
        }
    }
    series
        .into_iter()
        .map(|((listener, mode), mut s)| {
            s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let seconds = |s: f64| Duration::try_from_secs_f64(s).ok();
            ListenerFigures {
                mean: (s.count > 0).then(|| s.sum / s.count as f64).and_then(seconds),
                p95: quantile(0.95, &s.buckets).and_then(seconds),
                runs: s.runs.max(s.count),
                failed: s.failed,
                listener,
                mode,
            }
        })
        .collect()
}

/// The `q` quantile of a cumulative histogram (`(upper bound, count)` sorted by bound), linear
/// within the bucket it falls in; the largest finite bound when it falls in `+Inf`.
fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in buckets {
        if count as f64 >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let inside = (count - lower.1) as f64;
            let share = if inside > 0.0 {
                (rank - lower.1 as f64) / inside
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = r#"# TYPE enteraksi_listener_runs_total counter
enteraksi_listener_runs_total{listener="SendMail",mode="queued"} 10
enteraksi_listeners_failed_total{listener="SendMail",mode="queued"} 2
enteraksi_listener_duration_seconds_bucket{listener="SendMail",mode="queued",le="0.01"} 5
enteraksi_listener_duration_seconds_bucket{listener="SendMail",mode="queued",le="0.1"} 9
enteraksi_listener_duration_seconds_bucket{listener="SendMail",mode="queued",le="1"} 10
enteraksi_listener_duration_seconds_bucket{listener="SendMail",mode="queued",le="+Inf"} 10
enteraksi_listener_duration_seconds_sum{listener="SendMail",mode="queued"} 0.5
enteraksi_listener_duration_seconds_count{listener="SendMail",mode="queued"} 10
enteraksi_listener_runs_total{listener="Odd \"one\"",mode="sync"} 1
enteraksi_queue_depth{queue="default"} 3
"#;

    #[test]
    fn a_listeners_runs_failures_mean_and_p95_come_from_its_series() {
        let figures = listener_figures(RENDERED);
        assert_eq!(figures.len(), 2, "{figures:?}");
        let mail = figures.iter().find(|f| f.listener == "SendMail").unwrap();
        assert_eq!((mail.runs, mail.failed, mail.mode.as_str()), (10, 2, "queued"));
        assert_eq!(mail.mean, Some(Duration::from_millis(50)));
        // Rank 9.5 of 10 falls halfway into the (0.1, 1] bucket, which holds the 10th run.
        let p95 = mail.p95.unwrap().as_secs_f64();
        assert!((p95 - 0.55).abs() < 1e-9, "{p95}");
        let odd = figures.iter().find(|f| f.mode == "sync").unwrap();
        assert_eq!((odd.listener.as_str(), odd.runs, odd.mean), ("Odd \"one\"", 1, None));
    }

    #[test]
    fn a_quantile_in_the_infinite_bucket_is_the_largest_finite_bound() {
        assert_eq!(quantile(0.95, &[(0.5, 0), (f64::INFINITY, 4)]), Some(0.5));
        assert_eq!(quantile(0.95, &[(0.5, 0), (f64::INFINITY, 0)]), None);
    }
}
