//! gorae-core: the OCI container lifecycle as a library.
