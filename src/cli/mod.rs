//! The `portcullis` command's parts other than serving: its arguments, the
//! admin commands and `explain`.

pub(crate) mod admin_commands;
pub(crate) mod args;
pub(crate) mod explain;
