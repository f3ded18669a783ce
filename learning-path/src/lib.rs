//! The `learning-path` bounded context. Its domain, events and listeners arrive with their issue; for now the crate only holds its place in the workspace.
