//! recede-msg (being built).
