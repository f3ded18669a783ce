//! The course routes over real HTTP on an ephemeral port, on a temporary SQLite database: an
//! instructor authors a course with lessons, publishes, unpublishes and archives it, and the
//! catalog pages; plus the refusals (401, 403, 404, 409, 422) in the error shape, each storing
//! nothing.

mod catalog;
mod lifecycle;
mod refusals;
mod support;
