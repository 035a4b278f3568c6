//! Responders: one module per kind of action.

pub mod action;
pub mod devin;
pub mod forward;
pub mod http;
pub mod pagerduty_v3;
pub mod slack;
pub mod webhook;
pub use action::ActionConfig;
