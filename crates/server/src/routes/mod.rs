//! The app's own routes; the login routes are Sesame's.

pub(crate) mod api;
pub(crate) mod health;
pub(crate) mod home;
