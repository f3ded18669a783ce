//! The dashboard's HTML: the sign-in form, the dashboard and error pages. Every datum (event
//! names, tags, ids, error texts, the filters echoed back) goes through [`esc`]; the one inline
//! script runs under a per-response nonce (`Content-Security-Policy`), and the data it needs
//! travels as JSON in a `<script type="application/json">` with `<` escaped.

use std::fmt::Write as _;
use std::time::Duration;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::charts;
use super::figures::{Dashboard, DashboardQuery, MINUTES};
use crate::http::ApiError;

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content and quoted attributes.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML answer with the dashboard's headers: never cached, never framed, scripts only with
/// `nonce` (none without), and `cookies` set.
pub(super) fn respond(status: StatusCode, body: String, nonce: Option<&str>, cookies: Vec<HeaderValue>) -> Response {
    let script = nonce.map_or("'none'".to_owned(), |n| format!("'nonce-{n}'"));
    let policy = format!(
        "default-src 'none'; script-src {script}; style-src 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

/// [`respond`] without a script.
pub(super) fn html(status: StatusCode, body: String, cookies: Vec<HeaderValue>) -> Response {
    respond(status, body, None, cookies)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}\
header{background:#111827;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:center}\
header h1{font-size:1.1em;margin:0;flex:1}main{padding:1em 1.2em;display:grid;gap:1em;\
grid-template-columns:repeat(auto-fit,minmax(660px,1fr))}section{background:#fff;border:1px solid #e5e7eb;\
border-radius:6px;padding:.8em 1em;overflow:auto}section.wide{grid-column:1/-1}h2{font-size:1em;margin:0 0 .5em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #f3f4f6;\
vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}\
.axis{font-size:10px;fill:#6b7280}.legend{margin-right:1em;font-size:12px}.swatch{display:inline-block;width:10px;\
height:10px;margin-right:4px}.notice{background:#ecfdf5;border:1px solid #a7f3d0;padding:.5em 1em;margin:1em 1.2em 0}\
.error{background:#fef2f2;border:1px solid #fecaca;padding:.5em 1em}form.inline{display:inline}\
.muted{color:#6b7280}input[type=text]{width:12em}#tail li{font-family:monospace;font-size:12px}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// The sign-in form: the admin's API token, and the form's CSRF value.
pub(super) fn login(message: Option<&str>, csrf: &str) -> String {
    let message = message.map_or(String::new(), |m| {
        format!("<p class=\"error\" id=\"message\">{}</p>", esc(m))
    });
    document(
        "Enteraksi: sign in",
        &format!(
            "<header><h1>Enteraksi events dashboard</h1></header><main><section><h2>Sign in</h2>{message}\
             <p class=\"muted\">Paste an admin's API token (<code>enteraksi user add --role admin</code> prints one).</p>\
             <form method=\"post\" action=\"/admin/login\" id=\"login\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label>API token <input type=\"password\" name=\"token\" autocomplete=\"off\" size=\"70\" required></label> \
             <button type=\"submit\">Sign in</button></form></section></main>",
            esc(csrf)
        ),
    )
}

/// The page of a refusal or failure.
pub(super) fn error(error: &ApiError) -> (StatusCode, String) {
    (
        error.status(),
        document(
            "Enteraksi: error",
            &format!(
                "<header><h1>Enteraksi events dashboard</h1></header><main><section><h2>{} {}</h2>\
                 <p class=\"error\" id=\"message\" data-code=\"{}\">{}</p><p><a href=\"/admin\">Back to the dashboard</a></p>\
                 </section></main>",
                error.status().as_u16(),
                esc(error.status().canonical_reason().unwrap_or("")),
                esc(error.code()),
                esc(error.message()),
            ),
        ),
    )
}

fn duration(d: Option<Duration>) -> String {
    match d {
        None => "–".to_owned(),
        Some(d) if d < Duration::from_secs(1) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Some(d) if d < Duration::from_secs(120) => format!("{:.1} s", d.as_secs_f64()),
        Some(d) => format!("{:.0} min", d.as_secs_f64() / 60.0),
    }
}

/// An id (or a tag ending in one) cut to its first characters, whole in its tooltip.
fn short(text: &str) -> String {
    let cut = match text.rsplit_once(':') {
        Some((kind, id)) if id.len() > 12 => format!("{kind}:{}…", id.chars().take(8).collect::<String>()),
        None if text.len() > 12 => format!("{}…", text.chars().take(8).collect::<String>()),
        _ => text.to_owned(),
    };
    format!("<code title=\"{}\">{}</code>", esc(text), esc(&cut))
}

fn filter_input(name: &str, label: &str, value: &Option<String>, hint: &str) -> String {
    format!(
        "<label>{label} <input type=\"text\" name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label> ",
        esc(value.as_deref().unwrap_or("")),
        esc(hint)
    )
}

fn notice(query: &DashboardQuery) -> String {
    let job = query.job.as_deref().map(esc).unwrap_or_default();
    let text = match query.done.as_deref() {
        Some("retried") => format!("Failed job <code>{job}</code> put back on its queue."),
        Some("forgotten") => format!("Failed job <code>{job}</code> deleted."),
        _ => return String::new(),
    };
    format!("<p class=\"notice\" id=\"notice\">{text}</p>")
}

/// The dashboard.
pub(super) fn dashboard(d: &Dashboard, user: &str, csrf: &str, query: &DashboardQuery, nonce: &str) -> String {
    let csrf = esc(csrf);
    let mut body = format!(
        "<header><h1>Enteraksi events dashboard</h1><span>{} · {} UTC</span>\
         <form method=\"post\" action=\"/admin/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" id=\"logout\">Sign out</button></form></header>{}<main>",
        esc(user),
        d.now.format("%Y-%m-%d %H:%M:%S"),
        notice(query),
    );

    // The charts.
    let current: Vec<(String, i64)> = d.queues.iter().map(|q| (q.queue.clone(), q.depth)).collect();
    let _ = write!(
        body,
        "<section><h2>Events per minute, last hour</h2>{}</section><section><h2>Queue depth, last hour</h2>{}\
         <p class=\"muted\">Sampled each minute by running workers; the last point is now.</p></section>",
        charts::events_per_minute(&d.per_minute, d.since),
        charts::queue_depth(&d.depth_history, &current, d.since, MINUTES),
    );

    // The live tail.
    let names = serde_json::to_string(&d.event_names)
        .unwrap_or_else(|_| "[]".to_owned())
        .replace('<', "\\u003c");
    let _ = write!(
        body,
        "<section class=\"wide\"><h2>Live tail <span id=\"tail-status\" class=\"muted\">connecting…</span></h2>\
         <ol id=\"tail\" reversed></ol><script type=\"application/json\" id=\"event-names\">{names}</script>\
         <script nonce=\"{nonce}\">{TAIL_SCRIPT}</script></section>"
    );

    // Events per name.
    body.push_str(
        "<section><h2>Events per name, last hour</h2><table id=\"per-name\"><thead><tr><th>event</th>\
         <th class=\"n\">count</th></tr></thead><tbody>",
    );
    if d.per_name.is_empty() {
        body.push_str("<tr><td colspan=\"2\" class=\"muted\">No event in the last hour.</td></tr>");
    }
    for (name, count) in &d.per_name {
        let _ = write!(
            body,
            "<tr data-event=\"{0}\"><td>{0}</td><td class=\"n\">{count}</td></tr>",
            esc(name)
        );
    }
    body.push_str("</tbody></table></section>");

    // Queues.
    body.push_str(
        "<section><h2>Queues</h2><table id=\"queues\"><thead><tr><th>queue</th><th class=\"n\">depth</th>\
         <th class=\"n\">ready</th><th class=\"n\">running</th><th class=\"n\">retrying</th><th class=\"n\">scheduled</th>\
         <th class=\"n\">failed</th><th class=\"n\">oldest job</th></tr></thead><tbody>",
    );
    for q in &d.queues {
        let _ = write!(
            body,
            "<tr data-queue=\"{0}\"><td>{0}</td><td class=\"n\">{1}</td><td class=\"n\">{2}</td><td class=\"n\">{3}</td>\
             <td class=\"n\">{4}</td><td class=\"n\">{5}</td><td class=\"n\">{6}</td><td class=\"n\">{7}</td></tr>",
            esc(&q.queue),
            q.depth,
            q.ready,
            q.reserved,
            q.delayed,
            q.scheduled,
            q.failed,
            duration(q.oldest_age),
        );
    }
    body.push_str("</tbody></table></section>");

    // Listeners.
    body.push_str(
        "<section><h2>Listeners (this process, as <code>/metrics</code>)</h2><table id=\"listeners\"><thead><tr>\
         <th>listener</th><th>mode</th><th class=\"n\">runs</th><th class=\"n\">failures</th><th class=\"n\">mean</th>\
         <th class=\"n\">p95</th></tr></thead><tbody>",
    );
    if d.listeners.is_empty() {
        body.push_str("<tr><td colspan=\"6\" class=\"muted\">No listener has run in this process yet.</td></tr>");
    }
    for l in &d.listeners {
        let _ = write!(
            body,
            "<tr data-listener=\"{0}\"><td>{0}</td><td>{1}</td><td class=\"n\">{2}</td><td class=\"n\">{3}</td>\
             <td class=\"n\">{4}</td><td class=\"n\">{5}</td></tr>",
            esc(&l.listener),
            esc(&l.mode),
            l.runs,
            l.failed,
            duration(l.mean),
            duration(l.p95),
        );
    }
    body.push_str("</tbody></table></section>");

    // Failed jobs.
    body.push_str(
        "<section class=\"wide\"><h2>Failed jobs</h2><table id=\"failed\"><thead><tr><th>failed at</th><th>queue</th>\
         <th>event → listener</th><th class=\"n\">tries</th><th>last error</th><th></th></tr></thead><tbody>",
    );
    if d.failed.is_empty() {
        body.push_str("<tr><td colspan=\"6\" class=\"muted\" id=\"no-failed\">No failed jobs.</td></tr>");
    }
    for job in &d.failed {
        let id = esc(&job.id);
        let _ = write!(
            body,
            "<tr id=\"failed-{id}\" data-job=\"{id}\"><td>{}</td><td>{}</td><td>{} → {}<br><code>{}</code></td>\
             <td class=\"n\">{}</td><td><code>{}</code></td><td>\
             <form method=\"post\" action=\"/admin/failed-jobs/{id}/retry\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" class=\"retry\">Retry</button></form> \
             <form method=\"post\" action=\"/admin/failed-jobs/{id}/forget\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" class=\"forget\">Forget</button></form>\
             </td></tr>",
            esc(&job.failed_at),
            esc(&job.queue),
            esc(&job.event_name),
            esc(&job.listener),
            id,
            job.attempts,
            esc(&job.exception),
        );
    }
    if d.more_failed {
        body.push_str(
            "<tr><td colspan=\"6\" class=\"muted\">More failed jobs: <code>enteraksi queue failed</code> lists them all.</td></tr>",
        );
    }
    body.push_str("</tbody></table></section>");
    // Recent events with filters.
    let _ = write!(
        body,
        "<section class=\"wide\"><h2>Recent events</h2><form method=\"get\" action=\"/admin\" id=\"filters\">{}{}{}{}{}{}\
         <button type=\"submit\">Filter</button> <a href=\"/admin\">clear</a></form>\
         <table id=\"recent\"><thead><tr><th>occurred (UTC)</th><th>event</th><th>aggregate</th><th>actor</th><th>tags</th>\
         <th>correlation</th></tr></thead><tbody>",
        filter_input("event", "name", &query.event, "enrollment.created"),
        filter_input("aggregate", "aggregate", &query.aggregate, "type or type:id"),
        filter_input("tag", "tag", &query.tag, "course:<id>"),
        filter_input("actor", "actor", &query.actor, "user id"),
        filter_input("correlation", "correlation", &query.correlation, "correlation id"),
        filter_input("limit", "limit", &query.limit, "50"),
    );
    if d.recent.is_empty() {
        body.push_str("<tr><td colspan=\"6\" class=\"muted\">No event matches.</td></tr>");
    }
    for e in &d.recent {
        let _ = write!(
            body,
            "<tr data-event-id=\"{}\"><td title=\"{}\">{}</td><td>{}</td><td>{}:{} v{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(&e.event_id.to_string()),
            e.occurred_at.format("%Y-%m-%d %H:%M:%S%.6f UTC"),
            e.occurred_at.format("%H:%M:%S%.3f"),
            esc(&e.event_name),
            esc(&e.aggregate_type),
            short(&e.aggregate_id),
            e.aggregate_version,
            e.actor_id.map_or("system".to_owned(), |a| short(&a.to_string())),
            e.tags.iter().map(|t| short(t)).collect::<Vec<_>>().join(" "),
            short(&e.correlation_id.to_string()),
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("</main>");
    document("Enteraksi: events dashboard", &body)
}

/// The live tail: an `EventSource` on the admins' channel (the session cookie authenticates it;
/// it reconnects and resumes by itself), each event listed newest first with its text set as
/// text, never as HTML. What arrived is kept in `window.tail` for tests.
const TAIL_SCRIPT: &str = r#"
window.tail = []; window.tailOpened = 0;
const names = JSON.parse(document.getElementById('event-names').textContent);
const list = document.getElementById('tail');
const status = document.getElementById('tail-status');
const source = new EventSource('/api/broadcasting/stream?channels=private-admin.events');
source.onopen = () => { window.tailOpened += 1; status.textContent = 'live'; };
source.onerror = () => { status.textContent = 'reconnecting…'; };
for (const name of names) {
  source.addEventListener(name, (e) => {
    const event = JSON.parse(e.data);
    window.tail.push(event);
    const item = document.createElement('li');
    item.dataset.eventId = event.id;
    item.textContent = event.occurred_at + '  ' + event.name + '  ' + event.aggregate_type + ':' + event.aggregate_id;
    list.prepend(item);
    while (list.children.length > 100) list.lastChild.remove();
  });
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_id_is_cut_and_kept_whole_in_its_tooltip() {
        let id = "0193a3e4-5b6c-7d8e-9f00-112233445566";
        assert_eq!(short(id), format!("<code title=\"{id}\">0193a3e4…</code>"));
        assert_eq!(
            short(&format!("course:{id}")),
            format!("<code title=\"course:{id}\">course:0193a3e4…</code>")
        );
        assert_eq!(short("system"), "<code title=\"system\">system</code>");
        assert_eq!(short("<a:b>"), "<code title=\"&lt;a:b&gt;\">&lt;a:b&gt;</code>");
    }

    #[test]
    fn markup_in_data_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn an_error_page_shows_the_code_and_escaped_message() {
        let (status, page) = error(&ApiError::forbidden("<b>no</b>"));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("data-code=\"forbidden\""));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;") && !page.contains("<b>no</b>"));
    }
}
