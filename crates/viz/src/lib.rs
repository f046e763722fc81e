//! recede-viz (being built).
