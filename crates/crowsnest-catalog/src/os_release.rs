//! Operating-system detection from `os-release` and the older release files.
