//! Typed GUIDs and the seeded generator that mints them, so runs are reproducible.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! guid_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a GUID taken from a request path or body.
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The GUID text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

guid_type!(
    /// An organization.
    OrgGuid,
    /// A space.
    SpaceGuid,
    /// An app.
    AppGuid,
    /// A process.
    ProcessGuid,
    /// A package.
    PackageGuid,
    /// A build.
    BuildGuid,
    /// A droplet.
    DropletGuid,
    /// A deployment.
    DeploymentGuid,
    /// A revision.
    RevisionGuid,
    /// An asynchronous job.
    JobGuid,
    /// A UAA user.
    UserGuid,
    /// A domain.
    DomainGuid,
    /// A route.
    RouteGuid,
);

/// A small deterministic PRNG (splitmix64): the same seed gives the same GUIDs and faults.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A UUID-v4-shaped GUID.
    pub fn guid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let a = (hi >> 32) as u32;
        let b = (hi >> 16) as u16;
        let c = (hi as u16 & 0x0fff) | 0x4000;
        let d = ((lo >> 48) as u16 & 0x3fff) | 0x8000;
        let e = lo & 0xffff_ffff_ffff;
        format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
    }
}
