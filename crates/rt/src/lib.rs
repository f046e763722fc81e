//! recede-rt (being built).
