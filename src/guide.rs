//! The repository's `docs/` pages, as part of this API documentation (the package ships
//! `docs/` too): what the README links to, readable wherever the API docs are.

#[doc = include_str!("../docs/GLOSSARY.md")]
pub mod glossary {}

#[cfg_attr(feature = "migrate", doc = include_str!("../docs/MIGRATING.md"))]
#[cfg_attr(
    not(feature = "migrate"),
    doc = "Moving from microkv 0.3: the page `docs/MIGRATING.md`, which these docs hold \
           when built with the `migrate` feature (as on docs.rs), since its example calls \
           `microkv::migrate`."
)]
pub mod migrating {}

#[doc = include_str!("../docs/ARCHITECTURE.md")]
pub mod architecture {}

#[doc = include_str!("../docs/FORMAT.md")]
pub mod format {}

#[doc = include_str!("../docs/DECISIONS.md")]
pub mod decisions {}

#[doc = include_str!("../docs/TESTING.md")]
pub mod testing {}
