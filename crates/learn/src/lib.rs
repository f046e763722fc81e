//! recede-learn (being built).
