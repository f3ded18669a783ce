//! Driving a running `enteraksi serve` over HTTP the way a front end does.

use serde_json::{Value, json};

/// `POST url` with `token` and a JSON `body`; the answer's body, after asserting a 2xx.
pub async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client.post(&url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

/// A learner signs up (`POST /api/users`) on `api` (`http://host:port`): their id and token.
pub async fn sign_up(client: &reqwest::Client, api: &str, name: &str, email: &str) -> (String, String) {
    let signed: Value = client
        .post(format!("{api}/api/users"))
        .json(&json!({"name": name, "email": email}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        signed["id"].as_str().unwrap().to_owned(),
        signed["token"].as_str().unwrap().to_owned(),
    )
}

/// The instructor (`token`) creates a course with one content lesson and publishes it: the
/// course's and the lesson's ids.
pub async fn published_course(client: &reqwest::Client, api: &str, token: &str, title: &str) -> (String, String) {
    let course = post(client, format!("{api}/api/courses"), token, json!({"title": title})).await;
    let course = course["id"].as_str().unwrap().to_owned();
    let lesson = post(
        client,
        format!("{api}/api/courses/{course}/lessons"),
        token,
        json!({"title": "Bab 1", "kind": "content"}),
    )
    .await;
    let lesson = lesson["id"].as_str().unwrap().to_owned();
    post(client, format!("{api}/api/courses/{course}/publish"), token, json!({})).await;
    (course, lesson)
}
