//! The iikoCloud simulator.
