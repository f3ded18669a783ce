//! The xAPI 1.0.3 statement as Enteraksi writes it: the parts it uses, nothing more, serialized
//! in a fixed field order so that the same event always gives the same bytes.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use crate::bus::EventMeta;
use crate::ids::{EventId, UserId};

/// The namespace of statement ids: `Uuid::new_v5(STATEMENT_NAMESPACE, "{event id} {verb IRI}")`.
/// Fixed forever: changing it would give every past statement a new id, and an LRS would store
/// the history twice.
pub const STATEMENT_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2d0e_8a57_4b59_9c3e_5b1f_0e2a_7d41);

/// The id of the statement that says `verb` about the event `event`: a name-based UUID (v5), the
/// same in the forwarder, in `export xapi` and on every retry.
pub fn statement_id(event: EventId, verb: &Verb) -> Uuid {
    Uuid::new_v5(
        &STATEMENT_NAMESPACE,
        format!("{} {}", event.as_uuid(), verb.id).as_bytes(),
    )
}

/// A verb: its IRI (ADL vocabulary) and an English display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    id: &'static str,
    display: &'static str,
}

impl Verb {
    const fn adl(id: &'static str, display: &'static str) -> Self {
        Self { id, display }
    }

    /// The verb's IRI.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// `registered`: a learner enrolled in a course or a learning path.
    pub const REGISTERED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/registered", "registered");
    /// `completed`: a lesson, a course or a learning path.
    pub const COMPLETED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/completed", "completed");
    /// `attempted`: an assessment attempt started.
    pub const ATTEMPTED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/attempted", "attempted");
    /// `passed`: an assessment graded at or above its passing score.
    pub const PASSED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/passed", "passed");
    /// `failed`: an assessment graded below its passing score.
    pub const FAILED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/failed", "failed");
    /// `exited`: a learner dropped a course or a learning path.
    pub const EXITED: Verb = Verb::adl("http://adlnet.gov/expapi/verbs/exited", "exited");
}

impl Serialize for Verb {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            id: &'a str,
            display: BTreeMap<&'a str, &'a str>,
        }
        Wire {
            id: self.id,
            display: BTreeMap::from([("en-US", self.display)]),
        }
        .serialize(serializer)
    }
}

/// What an activity is: its path under the application's URL and its ADL activity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// A course: `{APP_URL}/courses/{id}`.
    Course,
    /// A lesson: `{APP_URL}/lessons/{id}`.
    Lesson,
    /// An assessment: `{APP_URL}/assessments/{id}`.
    Assessment,
    /// A learning path: `{APP_URL}/learning-paths/{id}`.
    LearningPath,
}

impl ActivityKind {
    fn segment(self) -> &'static str {
        match self {
            Self::Course => "courses",
            Self::Lesson => "lessons",
            Self::Assessment => "assessments",
            Self::LearningPath => "learning-paths",
        }
    }

    /// The activity type IRI.
    pub fn type_iri(self) -> &'static str {
        match self {
            Self::Course => "http://adlnet.gov/expapi/activities/course",
            Self::Lesson => "http://adlnet.gov/expapi/activities/lesson",
            Self::Assessment => "http://adlnet.gov/expapi/activities/assessment",
            // A sequence of courses: the ADL "module" type is a part of a course, so the
            // registry's curriculum type is used instead.
            Self::LearningPath => "http://id.tincanapi.com/activitytype/curriculum",
        }
    }
}

/// The activity a statement is about, or one of its context activities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    #[serde(rename = "objectType")]
    object_type: &'static str,
    id: String,
    definition: Definition,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Definition {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    name: BTreeMap<&'static str, String>,
}

impl Activity {
    /// The activity's IRI.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The actor: an account on this application (`homePage` = `APP_URL`, `name` = the user id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    #[serde(rename = "objectType")]
    object_type: &'static str,
    account: Account,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Account {
    #[serde(rename = "homePage")]
    home_page: String,
    name: String,
}

/// How the statements of this installation name people and activities: from `APP_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapiProfile {
    home_page: String,
}

impl XapiProfile {
    /// A profile for the application served at `app_url` (a trailing slash is dropped).
    pub fn new(app_url: &str) -> Self {
        Self {
            home_page: app_url.trim().trim_end_matches('/').to_owned(),
        }
    }

    /// The actor for `user`: an account, never an e-mail address.
    pub fn actor(&self, user: UserId) -> Agent {
        Agent {
            object_type: "Agent",
            account: Account {
                home_page: self.home_page.clone(),
                name: user.to_string(),
            },
        }
    }

    /// The statement every mapping of this LMS makes: for the event `event`, learner `user`
    /// did `verb` to the activity `(kind, id, name)` within `registration` (an enrollment).
    pub fn statement<E: crate::DomainEvent>(
        &self,
        event: &crate::Envelope<E>,
        user: UserId,
        verb: Verb,
        (kind, id, name): (ActivityKind, impl std::fmt::Display, &str),
        registration: Uuid,
    ) -> Statement {
        Statement::new(event.meta(), self.actor(user), verb, self.activity(kind, id, name)).registration(registration)
    }

    /// The activity of `kind` with id `id`, named `name` (no name when empty).
    pub fn activity(&self, kind: ActivityKind, id: impl std::fmt::Display, name: &str) -> Activity {
        let mut names = BTreeMap::new();
        if !name.trim().is_empty() {
            names.insert("en-US", name.to_owned());
        }
        Activity {
            object_type: "Activity",
            id: format!("{}/{}/{id}", self.home_page, kind.segment()),
            definition: Definition {
                kind: kind.type_iri(),
                name: names,
            },
        }
    }

    /// The IRI of a context extension of this installation, e.g. `attempt-number`.
    pub fn extension(&self, name: &str) -> String {
        format!("{}/xapi/extensions/{name}", self.home_page)
    }
}

/// A score: raw and max points, min 0, and scaled = raw / max (absent when max is 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    #[serde(skip_serializing_if = "Option::is_none")]
    scaled: Option<f64>,
    raw: f64,
    min: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

impl Score {
    /// `raw` of `max` points (raw is capped at max, as xAPI requires raw ≤ max).
    pub fn of(raw: u32, max: u32) -> Self {
        if max == 0 {
            return Self {
                scaled: None,
                raw: f64::from(raw),
                min: 0.0,
                max: None,
            };
        }
        let raw = raw.min(max);
        Self {
            scaled: Some(f64::from(raw) / f64::from(max)),
            raw: f64::from(raw),
            min: 0.0,
            max: Some(f64::from(max)),
        }
    }
}

/// A statement's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<Score>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
}

impl Outcome {
    /// A completion.
    pub fn completed() -> Self {
        Self {
            completion: Some(true),
            ..Self::default()
        }
    }

    /// A graded result: score, success and completion.
    pub fn graded(score: Score, success: bool) -> Self {
        Self {
            score: Some(score),
            success: Some(success),
            completion: Some(true),
            duration: None,
        }
    }

    /// With the time spent, as an ISO 8601 duration (`PT{seconds}S`).
    pub fn took_seconds(mut self, seconds: u64) -> Self {
        self.duration = Some(format!("PT{seconds}S"));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Context {
    #[serde(skip_serializing_if = "Option::is_none")]
    registration: Option<Uuid>,
    #[serde(rename = "contextActivities", skip_serializing_if = "ContextActivities::is_empty")]
    activities: ContextActivities,
    platform: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct ContextActivities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parent: Vec<Activity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    grouping: Vec<Activity>,
}

impl ContextActivities {
    fn is_empty(&self) -> bool {
        self.parent.is_empty() && self.grouping.is_empty()
    }
}

/// One xAPI 1.0.3 statement about one event. Its id is [`statement_id`] of the event and the
/// verb, its timestamp the event's `occurred_at`: built twice from the same event, it is the
/// same statement, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    id: Uuid,
    actor: Agent,
    verb: Verb,
    object: Activity,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Outcome>,
    context: Context,
    timestamp: String,
}

impl Statement {
    /// `actor` `verb` `object`, about the event described by `meta`.
    pub fn new(meta: &EventMeta, actor: Agent, verb: Verb, object: Activity) -> Self {
        Self {
            id: statement_id(meta.event_id(), &verb),
            actor,
            verb,
            object,
            result: None,
            context: Context {
                registration: None,
                activities: ContextActivities::default(),
                platform: "Enteraksi",
                extensions: BTreeMap::new(),
            },
            timestamp: meta.occurred_at().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }
    }

    /// With a result.
    pub fn result(mut self, outcome: Outcome) -> Self {
        self.result = Some(outcome);
        self
    }

    /// With `context.registration`: the enrollment (or path enrollment) the statement is part of.
    pub fn registration(mut self, registration: Uuid) -> Self {
        self.context.registration = Some(registration);
        self
    }

    /// With a parent context activity (e.g. the course of a lesson).
    pub fn parent(mut self, activity: Activity) -> Self {
        self.context.activities.parent.push(activity);
        self
    }

    /// With a grouping context activity (e.g. the learning path of a course).
    pub fn grouping(mut self, activity: Activity) -> Self {
        self.context.activities.grouping.push(activity);
        self
    }

    /// With a context extension (its key an IRI, see [`XapiProfile::extension`]).
    pub fn extension(mut self, key: String, value: serde_json::Value) -> Self {
        self.context.extensions.insert(key, value);
        self
    }

    /// The statement's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The verb.
    pub fn verb(&self) -> &Verb {
        &self.verb
    }

    /// The activity it is about.
    pub fn object(&self) -> &Activity {
        &self.object
    }

    /// The statement as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a statement always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CorrelationId;

    fn meta(event: EventId) -> EventMeta {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        EventMeta::new(event, at, None, CorrelationId::new(), None)
    }

    #[test]
    fn the_statement_id_is_a_v5_uuid_of_the_event_and_the_verb() {
        let event = EventId::new();
        let id = statement_id(event, &Verb::COMPLETED);
        assert_eq!(id.get_version_num(), 5);
        assert_eq!(id, statement_id(event, &Verb::COMPLETED), "the same every time");
        assert_ne!(id, statement_id(event, &Verb::REGISTERED), "another verb, another id");
        assert_ne!(
            id,
            statement_id(EventId::new(), &Verb::COMPLETED),
            "another event, another id"
        );
        // Pinned: a change of namespace or name format would re-send all history as new.
        let fixed = EventId::parse("01936a2e-7c1f-7b2a-9d4e-3f5a6b7c8d9e").unwrap();
        assert_eq!(
            statement_id(fixed, &Verb::PASSED),
            Uuid::new_v5(
                &STATEMENT_NAMESPACE,
                b"01936a2e-7c1f-7b2a-9d4e-3f5a6b7c8d9e http://adlnet.gov/expapi/verbs/passed"
            )
        );
    }

    #[test]
    fn a_statement_built_twice_from_one_event_is_the_same_bytes() {
        let profile = XapiProfile::new("https://lms.example/");
        let event = EventId::new();
        let user = UserId::new();
        let build = || {
            Statement::new(
                &meta(event),
                profile.actor(user),
                Verb::PASSED,
                profile.activity(ActivityKind::Assessment, "a1", "Kuis"),
            )
            .result(Outcome::graded(Score::of(8, 10), true))
            .registration(Uuid::nil())
            .parent(profile.activity(ActivityKind::Course, "c1", "Rust"))
        };
        assert_eq!(
            serde_json::to_string(&build()).unwrap(),
            serde_json::to_string(&build()).unwrap()
        );
        let json = build().to_json();
        assert_eq!(json["timestamp"], "2026-11-22T10:00:00.123456Z");
        assert_eq!(json["actor"]["account"]["homePage"], "https://lms.example");
        assert_eq!(json["actor"]["account"]["name"], user.to_string());
        assert!(json["actor"].get("mbox").is_none(), "no e-mail address leaves");
        assert_eq!(json["verb"]["display"]["en-US"], "passed");
        assert_eq!(json["object"]["id"], "https://lms.example/assessments/a1");
        assert_eq!(json["result"]["score"]["scaled"], 0.8);
        assert_eq!(json["result"]["score"]["max"], 10.0);
        assert_eq!(
            json["context"]["contextActivities"]["parent"][0]["id"],
            "https://lms.example/courses/c1"
        );
    }

    #[test]
    fn a_score_out_of_zero_has_no_max_nor_scaled_and_raw_never_exceeds_max() {
        let json = serde_json::to_value(Score::of(3, 0)).unwrap();
        assert_eq!(json, serde_json::json!({"raw": 3.0, "min": 0.0}));
        let json = serde_json::to_value(Score::of(12, 10)).unwrap();
        assert_eq!(json["raw"], 10.0);
        assert_eq!(json["scaled"], 1.0);
    }
}
