//! Use cases between HTTP and storage: no actix here. Handlers (`routes/`) and background jobs
//! call these; they call `store/` and the pure rules of `domain/`.

pub mod access;
pub mod deadlines;
pub mod intake;
pub mod relations;
pub mod reopen;
pub mod transition;
