//! The enrollment context's HTTP routes. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/courses/{id}/enrollments` `{}` or `{user_id}` | a learner for themselves / the course's instructor |
//! | `GET /api/enrollments/{id}` | its learner, the course's instructor, admins |
//! | `POST /api/enrollments/{id}/drop` `{reason?}`, `…/reenroll` | its learner |
//! | `GET /api/me/enrollments` | the caller |
//! | `GET /api/certificates/{code}` | anyone, no token |
//! | `GET /certificates/{enrollment_id or code}` | anyone: the link in the congratulation mail, redirected to the verification |

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{
    ApiError, ApiJson, ApiQuery, ApiState, Caller, Created, ErrorBody, OptionalJson, Page, PageQuery,
};
use shared_kernel::{CourseId, EnrollmentId, UserId};

use crate::{Enrollment, EnrollmentError, EnrollmentService};

#[derive(Clone)]
struct EnrollmentApi {
    api: ApiState,
    service: EnrollmentService,
}

impl FromRef<EnrollmentApi> for ApiState {
    fn from_ref(state: &EnrollmentApi) -> Self {
        state.api.clone()
    }
}

/// The enrollment routes.
pub fn routes(api: ApiState) -> Router {
    let service = EnrollmentService::new(api.bus.clone());
    Router::new()
        .route("/api/courses/{id}/enrollments", post(enroll))
        .route("/api/enrollments/{id}", get(show))
        .route("/api/enrollments/{id}/drop", post(drop_out))
        .route("/api/enrollments/{id}/reenroll", post(reenroll))
        .route("/api/me/enrollments", get(mine))
        .route("/api/certificates/{code}", get(verify))
        .route("/certificates/{key}", get(certificate_link))
        .with_state(EnrollmentApi { api, service })
}

/// `POST /api/courses/{id}/enrollments`: empty for oneself, or the learner an instructor enrolls.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollment {
    /// The learner (the course's instructor or an admin only); the caller when absent.
    pub user_id: Option<UserId>,
}

/// `POST /api/enrollments/{id}/drop`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DropRequest {
    /// Why (at most 500 characters).
    pub reason: Option<String>,
}

/// An enrollment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentView {
    /// Its id.
    pub id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The course.
    pub course_id: CourseId,
    /// `active`, `completed` or `dropped`.
    pub status: String,
    /// Course progress, 0–100.
    pub progress: f64,
    /// Who enrolled the learner, when not themselves.
    pub invited_by: Option<UserId>,
}

impl EnrollmentView {
    fn of(e: &Enrollment) -> Self {
        Self {
            id: e.id(),
            user_id: e.user_id(),
            course_id: e.course_id(),
            status: e.status().as_str().to_owned(),
            progress: e.progress().value(),
            invited_by: e.invited_by(),
        }
    }
}

/// A certificate as its public verification shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateView {
    /// The verification code.
    pub code: String,
    /// Whom it was issued to.
    pub user_id: UserId,
    /// Their name.
    pub holder: String,
    /// The course completed.
    pub course_id: CourseId,
    /// The course's title.
    pub course_title: String,
    /// When (RFC 3339).
    pub issued_at: String,
}

/// The enrollment's error as an answer: one stable code per variant.
pub fn api_error(e: EnrollmentError) -> ApiError {
    match &e {
        EnrollmentError::NotFound(_) => ApiError::not_found("enrollment_not_found", e.to_string()),
        EnrollmentError::CourseNotFound(_) => ApiError::not_found("course_not_found", e.to_string()),
        EnrollmentError::UserNotFound(_) => ApiError::not_found("user_not_found", e.to_string()),
        EnrollmentError::CourseNotPublished { .. } => ApiError::conflict("course_not_published", e.to_string()),
        EnrollmentError::AlreadyEnrolled { .. } => ApiError::conflict("already_enrolled", e.to_string()),
        EnrollmentError::InvalidTransition(_) => ApiError::conflict("invalid_transition", e.to_string()),
        EnrollmentError::NotActive { .. } => ApiError::conflict("enrollment_not_active", e.to_string()),
        EnrollmentError::ReasonTooLong { .. } => ApiError::invalid("reason_too_long", e.to_string()),
        EnrollmentError::ConcurrentChange(_) => ApiError::conflict("concurrent_change", e.to_string()),
        EnrollmentError::Course(_)
        | EnrollmentError::User(_)
        | EnrollmentError::Corrupt { .. }
        | EnrollmentError::Database(_)
        | EnrollmentError::UnitOfWork(_) => ApiError::internal(&e),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("enrollment_not_found", format!("no enrollment {id}"))
}

/// The instructor of a course the caller may see, or 404.
async fn course_instructor(state: &EnrollmentApi, caller: &Caller, course: CourseId) -> Result<UserId, ApiError> {
    let found = course::find(&mut *state.api.read().await?, course)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match found {
        Some(c) if c.is_published() || c.instructor_id() == caller.id() || caller.is_admin() => Ok(c.instructor_id()),
        _ => Err(ApiError::not_found("course_not_found", format!("no course {course}"))),
    }
}

/// An enrollment the caller may read (its learner, the course's instructor, admins), with
/// whether they may change it (its learner, admins). Others get 404.
async fn readable(state: &EnrollmentApi, caller: &Caller, id: &str) -> Result<(Enrollment, bool), ApiError> {
    let id = EnrollmentId::parse(id).map_err(|_| not_found(id))?;
    let found = crate::find(&mut *state.api.read().await?, id)
        .await
        .map_err(api_error)?;
    let Some(enrollment) = found else {
        return Err(not_found(&id.to_string()));
    };
    let own = enrollment.user_id() == caller.id() || caller.is_admin();
    if own {
        return Ok((enrollment, true));
    }
    let instructor = course::find(&mut *state.api.read().await?, enrollment.course_id())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map(|c| c.instructor_id());
    if instructor == Some(caller.id()) {
        Ok((enrollment, false))
    } else {
        Err(not_found(&id.to_string()))
    }
}

async fn view(state: &EnrollmentApi, id: EnrollmentId) -> Result<EnrollmentView, ApiError> {
    crate::find(&mut *state.api.read().await?, id)
        .await
        .map_err(api_error)?
        .map(|e| EnrollmentView::of(&e))
        .ok_or_else(|| not_found(&id.to_string()))
}

/// Enrolls the caller in a published course, or (its instructor, admins) the learner `user_id`.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/enrollments",
    tag = "enrollment",
    operation_id = "enroll",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    request_body(content = Option<NewEnrollment>, description = "optional; may be empty"),
    responses(
        (status = 201, description = "Enrolled; `Location` is the enrollment.", body = EnrollmentView,
            headers(("Location" = String, description = "Where the new resource is.")),
        ),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "Only the course's instructor (or an admin) may enroll someone else.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller, or no such learner.", body = ErrorBody),
        (status = 409, description = "The course is not published, the learner is already enrolled, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn enroll(
    State(state): State<EnrollmentApi>,
    caller: Caller,
    Path(course): Path<String>,
    OptionalJson(body): OptionalJson<NewEnrollment>,
) -> Result<Created<EnrollmentView>, ApiError> {
    let course =
        CourseId::parse(&course).map_err(|_| ApiError::not_found("course_not_found", format!("no course {course}")))?;
    let instructor = course_instructor(&state, &caller, course).await?;
    let learner = match body.user_id {
        Some(learner) if learner != caller.id() => {
            if instructor != caller.id() && !caller.is_admin() {
                return Err(ApiError::forbidden(
                    "only the course's instructor may enroll someone else",
                ));
            }
            learner
        }
        _ => caller.id(),
    };
    let id = state
        .service
        .enroll(caller.id(), learner, course)
        .await
        .map_err(api_error)?;
    Ok(Created {
        location: format!("/api/enrollments/{id}"),
        body: view(&state, id).await?,
    })
}

/// An enrollment: for its learner, the course's instructor and admins.
#[utoipa::path(
    get,
    path = "/api/enrollments/{id}",
    tag = "enrollment",
    operation_id = "show_enrollment",
    params(("id" = String, Path, description = "The enrollment's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The enrollment.", body = EnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No such enrollment readable by the caller.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn show(
    State(state): State<EnrollmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<EnrollmentView>, ApiError> {
    let (enrollment, _) = readable(&state, &caller, &id).await?;
    Ok(ApiJson(EnrollmentView::of(&enrollment)))
}

async fn changeable(state: &EnrollmentApi, caller: &Caller, id: &str) -> Result<EnrollmentId, ApiError> {
    match readable(state, caller, id).await? {
        (enrollment, true) => Ok(enrollment.id()),
        (_, false) => Err(ApiError::forbidden(
            "only the enrolled learner may change their enrollment",
        )),
    }
}

/// Drops out of an active enrollment (its learner, admins), with an optional reason.
#[utoipa::path(
    post,
    path = "/api/enrollments/{id}/drop",
    tag = "enrollment",
    operation_id = "drop_enrollment",
    params(("id" = String, Path, description = "The enrollment's id (a UUID; anything else is 404).")),
    request_body(content = Option<DropRequest>, description = "optional; may be empty"),
    responses(
        (status = 200, description = "The enrollment after dropping out.", body = EnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller (the course's instructor) may read the enrollment but not change it.", body = ErrorBody),
        (status = 404, description = "No such enrollment readable by the caller.", body = ErrorBody),
        (status = 409, description = "Not a legal transition from its status, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body, or a reason over 500 characters.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn drop_out(
    State(state): State<EnrollmentApi>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DropRequest>,
) -> Result<ApiJson<EnrollmentView>, ApiError> {
    let id = changeable(&state, &caller, &id).await?;
    let reason = body.reason;
    state
        .service
        .drop_out(caller.id(), id, reason.as_deref())
        .await
        .map_err(api_error)?;
    Ok(ApiJson(view(&state, id).await?))
}

/// Re-enrolls in a dropped enrollment (its learner, admins).
#[utoipa::path(
    post,
    path = "/api/enrollments/{id}/reenroll",
    tag = "enrollment",
    operation_id = "reenroll",
    params(("id" = String, Path, description = "The enrollment's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The enrollment, active again.", body = EnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller (the course's instructor) may read the enrollment but not change it.", body = ErrorBody),
        (status = 404, description = "No such enrollment readable by the caller.", body = ErrorBody),
        (status = 409, description = "Not a legal transition from its status, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn reenroll(
    State(state): State<EnrollmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<EnrollmentView>, ApiError> {
    let id = changeable(&state, &caller, &id).await?;
    state.service.reenroll(caller.id(), id).await.map_err(api_error)?;
    Ok(ApiJson(view(&state, id).await?))
}

/// `GET /api/me/enrollments`: the caller's enrollments, newest first.
#[utoipa::path(
    get,
    path = "/api/me/enrollments",
    tag = "enrollment",
    operation_id = "list_my_enrollments",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the caller's enrollments.", body = Page<EnrollmentView>),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor`.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn mine(
    State(state): State<EnrollmentApi>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<EnrollmentView>>, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?;
    let enrollments = crate::of_learner(
        &mut *state.api.read().await?,
        caller.id(),
        after.as_deref(),
        i64::from(limit) + 1,
    )
    .await
    .map_err(api_error)?;
    let views = enrollments.iter().map(EnrollmentView::of).collect();
    Ok(ApiJson(Page::from_rows(views, limit, |e| e.id.to_string())))
}

/// `GET /api/certificates/{code}`: public verification; an unknown code is 404.
#[utoipa::path(
    get,
    path = "/api/certificates/{code}",
    tag = "enrollment",
    operation_id = "verify_certificate",
    params(("code" = String, Path, description = "The certificate's verification code.")),
    responses(
        (status = 200, description = "The certificate.", body = CertificateView),
        (status = 404, description = "No certificate has this code.", body = ErrorBody),
    ),
)]
async fn verify(
    State(state): State<EnrollmentApi>,
    Path(code): Path<String>,
) -> Result<ApiJson<CertificateView>, ApiError> {
    let mut conn = state.api.read().await?;
    let certificate = crate::verify_certificate(&mut conn, &code)
        .await
        .map_err(api_error)?
        .ok_or_else(|| ApiError::not_found("certificate_not_found", "no certificate has this code"))?;
    let holder = shared_kernel::users::find_user(&mut conn, certificate.user_id())
        .await?
        .map(|u| u.name().to_owned())
        .unwrap_or_default();
    let course_title = course::find(&mut conn, certificate.course_id())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map(|c| c.title().as_str().to_owned())
        .unwrap_or_default();
    Ok(ApiJson(CertificateView {
        code: certificate.verification_code().as_str().to_owned(),
        user_id: certificate.user_id(),
        holder,
        course_id: certificate.course_id(),
        course_title,
        issued_at: certificate.issued_at().to_rfc3339(),
    }))
}

/// `GET /certificates/{key}`: the link the congratulation mail carries (by enrollment id, since
/// the mail may be written before the certificate), redirected (308) to the certificate's public
/// verification; 404 `certificate_not_found` until it is issued.
#[utoipa::path(
    get,
    path = "/certificates/{key}",
    tag = "enrollment",
    operation_id = "certificate_link",
    params(("key" = String, Path, description = "An enrollment id, or a certificate's verification code.")),
    responses(
        (status = 308, description = "Permanent redirect to the certificate's public verification.",
            headers(("Location" = String, description = "`/api/certificates/{code}`.")),
        ),
        (status = 404, description = "No certificate has been issued for this link yet.", body = ErrorBody),
    ),
)]
async fn certificate_link(
    State(state): State<EnrollmentApi>,
    Path(key): Path<String>,
) -> Result<axum::response::Redirect, ApiError> {
    let mut conn = state.api.read().await?;
    let certificate = match EnrollmentId::parse(&key) {
        Ok(enrollment) => crate::certificate_of(&mut conn, enrollment).await,
        Err(_) => crate::verify_certificate(&mut conn, &key).await,
    }
    .map_err(api_error)?
    .ok_or_else(|| {
        ApiError::not_found(
            "certificate_not_found",
            "no certificate has been issued for this link yet",
        )
    })?;
    Ok(axum::response::Redirect::permanent(&format!(
        "/api/certificates/{}",
        certificate.verification_code().as_str()
    )))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(enroll, show, drop_out, reenroll, mine, verify, certificate_link))]
struct ApiDoc;

/// This context's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    use super::openapi;

    /// Every path [`super::routes`] registers, as registered there.
    const ROUTES: &[&str] = &[
        "/api/courses/{id}/enrollments",
        "/api/enrollments/{id}",
        "/api/enrollments/{id}/drop",
        "/api/enrollments/{id}/reenroll",
        "/api/me/enrollments",
        "/api/certificates/{code}",
        "/certificates/{key}",
    ];

    #[test]
    fn openapi_lists_every_route() {
        shared_kernel::testing::assert_documents_exactly(&openapi(), ROUTES);
    }

    #[test]
    fn the_public_routes_need_no_token() {
        let doc = openapi();
        for path in ["/api/certificates/{code}", "/certificates/{key}"] {
            let get = doc.paths.paths[path].get.as_ref().expect("a GET");
            assert!(get.security.is_none(), "{path} needs no token");
        }
        let show = doc.paths.paths["/api/enrollments/{id}"].get.as_ref().expect("a GET");
        assert!(show.security.is_some());
    }

    #[test]
    fn the_optional_bodies_are_not_required() {
        let doc = openapi();
        for path in ["/api/courses/{id}/enrollments", "/api/enrollments/{id}/drop"] {
            let post = doc.paths.paths[path].post.as_ref().expect("a POST");
            let body = post.request_body.as_ref().expect("a documented body");
            assert!(
                !matches!(body.required, Some(utoipa::openapi::Required::True)),
                "{path}"
            );
        }
    }
}
