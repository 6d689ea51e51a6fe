//! The `portcullis` command's parts other than serving: its arguments, the
//! admin commands, `explain` and `replay`.

pub(crate) mod admin_commands;
pub(crate) mod approvals;
pub(crate) mod args;
pub(crate) mod explain;
pub(crate) mod replay;
