//! Live broadcasts over HTTP: Server-Sent Events and WebSocket, both fed by the one broadcast
//! path (the log, the tailer, the [`LiveHub`]). `app` mounts [`routes`] with every context's
//! [`ChannelRule`]s.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/broadcasting/stream?channels=a,b[&token=…][&last_event_id=N]` | SSE; resumes from `Last-Event-ID` |
//! | `GET /api/broadcasting/ws[?token=…]` | WebSocket: `{"subscribe": [...], "since": N}`, `{"unsubscribe": [...]}` |
//! | `GET /broadcasting/watch#channels=…&token=…&events=…` | a page that watches channels in a browser (`EventSource`) |
//!
//! The token may come as `?token=` because a browser's `EventSource` (and `WebSocket`) cannot
//! set headers; `serve` redacts it from its logs. A page served by the same origin may instead
//! rely on the events dashboard's session cookie ([`SESSION_COOKIE`], HttpOnly and
//! SameSite=Strict: a browser sends it only from this site's own pages), checked like the token.
//! The admins' channel `private-admin.events` ([`ChannelRule::ADMIN_EVENTS`]) is always known. Every channel asked for is authorized before
//! anything is streamed: one refused channel refuses the SSE request (403); over WebSocket it is
//! an error message naming it, and the others keep working.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::channels::{ChannelRule, authorize};
use super::hub::{Frame, LiveHub, Subscription};
use crate::http::{ApiError, ApiQuery, ApiState, Caller, ErrorBody, SESSION_COOKIE, session_token};
use crate::metrics;

/// How long a browser waits before reconnecting a dropped stream (sent first on every stream).
pub const RECONNECT_AFTER: Duration = Duration::from_millis(1000);

/// How often an idle stream gets a heartbeat (SSE comment, WebSocket ping).
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// A WebSocket that has answered nothing (no pong, no message) for this long is closed.
const WS_SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// The most channels one request or subscribe message may name.
pub const MAX_CHANNELS: usize = 64;

/// What the broadcasting routes need.
#[derive(Debug, Clone)]
pub struct BroadcastState {
    api: ApiState,
    hub: Arc<LiveHub>,
    rules: Arc<[ChannelRule]>,
}

/// The broadcasting routes, over `hub`, for channels `rules` allow (and the admins' channel).
pub fn routes(api: ApiState, hub: Arc<LiveHub>, rules: &[ChannelRule]) -> Router {
    let mut rules = rules.to_vec();
    if !rules.contains(&ChannelRule::ADMIN_EVENTS) {
        rules.push(ChannelRule::ADMIN_EVENTS);
    }
    Router::new()
        .route("/api/broadcasting/stream", get(stream))
        .route("/api/broadcasting/ws", get(websocket))
        .route("/broadcasting/watch", get(watch_page))
        .with_state(BroadcastState {
            api,
            hub,
            rules: rules.into(),
        })
}

/// The part of the OpenAPI document for these routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(stream, websocket), tags((name = "broadcasting", description = "Live broadcasts (SSE and WebSocket)")))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// The query of both routes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated channel addresses (SSE only), e.g. `courses,private-user.{id}`.
    channels: Option<String>,
    /// The API token, for clients that cannot send `Authorization` (a browser's `EventSource`).
    token: Option<String>,
    /// The last position the client has, when it cannot send `Last-Event-ID` (a page reload).
    last_event_id: Option<String>,
}

async fn caller(state: &BroadcastState, headers: &HeaderMap, query: &StreamQuery) -> Result<Caller, ApiError> {
    let token = match (Caller::bearer(headers)?, query.token.as_deref(), session_token(headers)) {
        (Some(token), _, _) | (None, Some(token), _) | (None, None, Some(token)) => token,
        (None, None, None) => {
            return Err(ApiError::unauthorized(format!(
                "send an API token as `Authorization: Bearer <token>` or `?token=` (or the `{SESSION_COOKIE}` cookie)"
            )));
        }
    };
    Caller::from_token(&state.api, token).await
}

/// Refuses no channels and too many.
fn count_channels(list: &[String]) -> Result<(), String> {
    if list.is_empty() {
        return Err("name at least one channel".to_owned());
    }
    if list.len() > MAX_CHANNELS {
        return Err(format!("at most {MAX_CHANNELS} channels per subscription"));
    }
    Ok(())
}

fn position(text: &str) -> Result<i64, ApiError> {
    text.trim().parse::<i64>().ok().filter(|p| *p >= 0).ok_or_else(|| {
        ApiError::invalid(
            "invalid_last_event_id",
            "the last event id is a position this server sent",
        )
    })
}

/// Counts a subscriber for as long as it lives.
struct Counted(&'static str);

impl Counted {
    fn new(transport: &'static str) -> Self {
        metrics::broadcast_subscribers(transport, 1.0);
        Self(transport)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::broadcast_subscribers(self.0, -1.0);
    }
}

const RESET_REASON: &str = "the messages after your last id are no longer kept (or it is unknown here): reload";
const SHUTDOWN_REASON: &str = "the server is shutting down; reconnect to resume from your last id";

/// Streams broadcasts of the named channels as Server-Sent Events: `id:` the position, `event:`
/// the broadcast name, `data:` the event's public payload. With `Last-Event-ID` (or
/// `?last_event_id=`), what was missed since comes first; older than what is kept, a `reset`
/// event comes first. A heartbeat comment every 15 s; a final `shutdown` event when the server
/// stops.
#[utoipa::path(get, path = "/api/broadcasting/stream", tag = "broadcasting", security(("bearer" = [])),
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "The last position received")),
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A channel the caller may not listen to (the whole request is refused)", body = ErrorBody),
        (status = 422, description = "No channels, too many, or a malformed last event id", body = ErrorBody),
    ))]
async fn stream(
    State(state): State<BroadcastState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &query).await?;
    let channels: Vec<String> = query
        .channels
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    count_channels(&channels).map_err(|e| ApiError::invalid("invalid_channels", e))?;
    for channel in &channels {
        authorize(&state.rules, channel, caller.actor()).map_err(|refusal| ApiError::forbidden(refusal.to_string()))?;
    }
    let since = match headers.get("last-event-id") {
        Some(value) => Some(position(value.to_str().unwrap_or("-"))?),
        None => query.last_event_id.as_deref().map(position).transpose()?,
    };
    let mut subscription = state.hub.subscribe(state.api.bus.db());
    let reset = subscription
        .listen(&channels, since)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let live = Live {
        subscription,
        first: reset.map(|position| Frame::Reset { position }),
        ended: false,
        _counted: Counted::new("sse"),
    };
    // First, how soon to reconnect (a browser's default is a few seconds).
    let hint = futures_util::stream::once(async { Ok::<_, Infallible>(Event::default().retry(RECONNECT_AFTER)) });
    let events = futures_util::stream::unfold(live, |mut live| async move {
        if live.ended {
            return None;
        }
        let frame = match live.first.take() {
            Some(frame) => frame,
            None => match live.subscription.next().await {
                Ok(Some(frame)) => frame,
                // Dropped for falling behind: the stream ends and the client resumes.
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "reading missed broadcasts failed; ending the stream (the client resumes)");
                    return None;
                }
            },
        };
        let event = match frame {
            Frame::Message(message) => {
                metrics::broadcast_sent("sse");
                Event::default()
                    .id(message.position.to_string())
                    .event(message.event.as_str())
                    .data(&*message.data)
            }
            Frame::Reset { position } => Event::default()
                .id(position.to_string())
                .event("reset")
                .data(json!({"position": position, "reason": RESET_REASON}).to_string()),
            Frame::Closing => {
                live.ended = true;
                Event::default()
                    .event("shutdown")
                    .data(json!({"reason": SHUTDOWN_REASON}).to_string())
            }
        };
        Some((Ok::<_, Infallible>(event), live))
    });
    Ok(Sse::new(futures_util::StreamExt::chain(hint, events))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response())
}

struct Live {
    subscription: Subscription,
    first: Option<Frame>,
    ended: bool,
    _counted: Counted,
}

/// A message from a WebSocket client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientMessage {
    subscribe: Option<Vec<String>>,
    since: Option<i64>,
    unsubscribe: Option<Vec<String>>,
}

/// The same channels over WebSocket. Send `{"subscribe": [channels], "since": N}` (`since`
/// optional) and `{"unsubscribe": [channels]}`; receive `{"type": "message", "id", "channel",
/// "event", "data"}`, `{"type": "subscribed" | "unsubscribed", "channels"}`, `{"type": "reset",
/// "id"}`, `{"type": "error", "code", "message", "channel"?}` and `{"type": "shutdown"}`. A
/// refused channel is an error naming it; the others keep working. Pings every 15 s.
#[utoipa::path(get, path = "/api/broadcasting/ws", tag = "broadcasting", security(("bearer" = [])),
    params(StreamQuery),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 426, description = "Not a WebSocket handshake", body = ErrorBody),
    ))]
async fn websocket(
    State(state): State<BroadcastState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &query).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            "this route speaks WebSocket: send a WebSocket handshake",
        )
    })?;
    Ok(upgrade.on_upgrade(move |socket| serve_socket(socket, state, caller)))
}

enum Step {
    Incoming(Option<Result<Message, axum::Error>>),
    Frame(Result<Option<Frame>, sqlx::Error>),
    Ping,
}

async fn serve_socket(mut socket: WebSocket, state: BroadcastState, caller: Caller) {
    let _counted = Counted::new("websocket");
    let mut subscription = state.hub.subscribe(state.api.bus.db());
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    let mut heard = Instant::now();
    loop {
        let step = tokio::select! {
            incoming = socket.recv() => Step::Incoming(incoming),
            frame = subscription.next() => Step::Frame(frame),
            _ = ping.tick() => Step::Ping,
        };
        let reply = match step {
            Step::Incoming(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Step::Incoming(Some(Ok(Message::Text(text)))) => {
                heard = Instant::now();
                command(&state, &caller, &mut subscription, text.as_str()).await
            }
            Step::Incoming(Some(Ok(Message::Binary(_)))) => {
                vec![error("invalid_message", "send JSON text messages", None)]
            }
            Step::Incoming(Some(Ok(_))) => {
                heard = Instant::now();
                continue;
            }
            Step::Frame(Ok(Some(Frame::Message(message)))) => {
                metrics::broadcast_sent("websocket");
                // The payload goes out as stored, not parsed and serialized again.
                let text = format!(
                    r#"{{"type":"message","id":{},"channel":{},"event":{},"data":{}}}"#,
                    message.position,
                    json!(message.channel),
                    json!(message.event),
                    message.data
                );
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
                continue;
            }
            Step::Frame(Ok(Some(Frame::Reset { position }))) => {
                vec![json!({"type": "reset", "id": position, "reason": RESET_REASON})]
            }
            Step::Frame(Ok(Some(Frame::Closing))) => {
                let _ = send(&mut socket, json!({"type": "shutdown", "reason": SHUTDOWN_REASON})).await;
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            Step::Frame(Ok(None)) => {
                let _ = send(
                    &mut socket,
                    error(
                        "too_slow",
                        "messages came faster than this connection read them; resume with `since`",
                        None,
                    ),
                )
                .await;
                return;
            }
            Step::Frame(Err(e)) => {
                tracing::warn!(error = %e, "reading missed broadcasts failed; closing the WebSocket (the client resumes)");
                return;
            }
            Step::Ping => {
                if heard.elapsed() > WS_SILENCE_LIMIT {
                    return;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        for message in reply {
            if send(&mut socket, message).await.is_err() {
                return;
            }
        }
    }
}

async fn send(socket: &mut WebSocket, message: serde_json::Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(message.to_string().into())).await
}

fn error(code: &str, message: &str, channel: Option<&str>) -> serde_json::Value {
    let mut body = json!({"type": "error", "code": code, "message": message});
    if let Some(channel) = channel {
        body["channel"] = json!(channel);
    }
    body
}

/// Runs one client message; returns the replies.
async fn command(
    state: &BroadcastState,
    caller: &Caller,
    subscription: &mut Subscription,
    text: &str,
) -> Vec<serde_json::Value> {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => {
            return vec![error(
                "invalid_message",
                &format!("expected {{\"subscribe\": [...], \"since\": N}} or {{\"unsubscribe\": [...]}}: {e}"),
                None,
            )];
        }
    };
    let mut replies = Vec::new();
    if let Some(channels) = message.unsubscribe {
        subscription.unlisten(&channels);
        replies.push(json!({"type": "unsubscribed", "channels": channels}));
    }
    if let Some(channels) = message.subscribe {
        if let Err(e) = count_channels(&channels) {
            return vec![error("invalid_channels", &e, None)];
        }
        let mut allowed = Vec::new();
        for channel in channels {
            match authorize(&state.rules, &channel, caller.actor()) {
                Ok(()) => allowed.push(channel),
                Err(refusal) => replies.push(error(
                    "forbidden_channel",
                    &refusal.to_string(),
                    Some(refusal.channel()),
                )),
            }
        }
        if !allowed.is_empty() {
            match subscription.listen(&allowed, message.since.filter(|s| *s >= 0)).await {
                Ok(reset) => {
                    replies.push(json!({"type": "subscribed", "channels": allowed}));
                    if let Some(position) = reset {
                        replies.push(json!({"type": "reset", "id": position, "reason": RESET_REASON}));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "subscribing failed");
                    replies.push(error("internal", "the server failed to subscribe; try again", None));
                }
            }
        }
    } else if replies.is_empty() {
        replies.push(error("invalid_message", "send `subscribe` or `unsubscribe`", None));
    }
    replies
}

/// A page that watches channels live in a browser, for people checking what a channel carries
/// (and the browser test): `#channels=a,b&token=…&events=enrollment.created,…` (in the fragment,
/// so the token never reaches a log). Its `EventSource` reconnects by itself and resumes with
/// `Last-Event-ID`; what arrived is listed and kept in `window.received`.
async fn watch_page() -> axum::response::Html<&'static str> {
    axum::response::Html(WATCH_PAGE)
}

const WATCH_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Enteraksi: live broadcasts</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}code{font-size:12px}</style></head>
<body><h1>Live broadcasts</h1><p id="status">connecting…</p><ol id="log"></ol>
<script>
const params = new URLSearchParams(location.hash.slice(1));
const names = (params.get('events') || '').split(',').filter(Boolean).concat(['reset', 'shutdown']);
window.received = [];
window.opened = 0;
const status = document.getElementById('status');
const log = document.getElementById('log');
const source = new EventSource('/api/broadcasting/stream?channels=' + encodeURIComponent(params.get('channels') || '')
  + '&token=' + encodeURIComponent(params.get('token') || ''));
source.onopen = () => { window.opened += 1; status.textContent = 'connected'; };
source.onerror = () => { status.textContent = 'reconnecting…'; };
for (const name of names) {
  source.addEventListener(name, (e) => {
    window.received.push({ id: e.lastEventId, event: name, data: e.data });
    const item = document.createElement('li');
    item.innerHTML = '<b></b> <code></code>';
    item.firstChild.textContent = name + ' #' + e.lastEventId;
    item.lastChild.textContent = e.data;
    log.appendChild(item);
  });
}
</script></body></html>
"#;
