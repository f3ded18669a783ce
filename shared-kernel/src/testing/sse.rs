//! A Server-Sent Events client for tests: opens a stream over real HTTP and parses its events
//! (`id:`, `event:`, `data:`; comments and heartbeats skipped), as a browser's `EventSource` does.

use std::collections::VecDeque;
use std::time::Duration;

/// One event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:`, if the event had one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub event: String,
    /// `data:` lines, joined by newlines.
    pub data: String,
}

impl SseEvent {
    /// `data` parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }

    /// `id` as a position.
    pub fn position(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("event has no numeric id: {self:?}"))
    }
}

/// An open event stream.
#[derive(Debug)]
pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    pending: VecDeque<SseEvent>,
    ended: bool,
}

impl SseStream {
    /// Opens `url` (GET, `Accept: text/event-stream`) with `headers`. A non-2xx answer is
    /// returned as `Err` with its status and body.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Self, (u16, String)> {
        let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| (0, e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err((status.as_u16(), body));
        }
        Ok(Self {
            response,
            buffer: String::new(),
            pending: VecDeque::new(),
            ended: false,
        })
    }

    /// The next event, or `None` if none comes within `within` or the stream ended.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => {
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk));
                    self.parse();
                }
                Ok(Ok(None) | Err(_)) => self.ended = true,
            }
        }
    }

    /// The next `n` events, panicking (with what came) if they do not all come within `within`.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) => got.push(event),
                None => panic!("expected {n} events within {within:?}, got {}: {got:#?}", got.len()),
            }
        }
        got
    }

    /// Whether the server ended the stream (after the events already read).
    pub async fn ended_within(&mut self, within: Duration) -> bool {
        while self.next(within).await.is_some() {}
        self.ended
    }

    fn parse(&mut self) {
        let text = self.buffer.replace("\r\n", "\n");
        let mut rest = text.as_str();
        while let Some(end) = rest.find("\n\n") {
            let block = &rest[..end];
            rest = &rest[end + 2..];
            let mut event = SseEvent {
                id: None,
                event: "message".to_owned(),
                data: String::new(),
            };
            let mut has_data = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "event" => event.event = value.to_owned(),
                    "data" => {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(value);
                        has_data = true;
                    }
                    _ => {}
                }
            }
            if has_data {
                self.pending.push_back(event);
            }
        }
        self.buffer = rest.to_owned();
    }
}
