//! std platform layer of microkv.
