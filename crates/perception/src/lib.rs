//! recede-perception (being built).
