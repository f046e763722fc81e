//! recede-mpc (being built).
