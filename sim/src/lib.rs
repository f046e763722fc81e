//! recede-sim (being built).
