//! Authentication (who is calling) and authorization (may they do this).

pub mod guard;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod principal;
pub mod refresh;
pub mod revocation;
pub mod revocation_listener;

pub use policy::Permission;
pub use principal::Principal;
