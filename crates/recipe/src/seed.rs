use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The root of every identifier in an image: disk and partition GUIDs, filesystem UUIDs,
/// volume serials and hash seeds are all derived from it with a domain-separated SHA-256,
/// so one recipe gives the same identifiers on every machine.
///
/// ```
/// let seed = ingot_recipe::Seed::new("hello");
/// assert_eq!(seed.uuid("disk"), ingot_recipe::Seed::new("hello").uuid("disk"));
/// assert_ne!(seed.uuid("disk"), seed.uuid("partition/1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed(String);

impl Seed {
    /// A seed from the recipe's `seed` (or its name).
    pub fn new(text: &str) -> Seed {
        Seed(text.to_owned())
    }

    /// 32 bytes for `domain`.
    pub fn bytes(&self, domain: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"ingot seed v1\0");
        h.update((self.0.len() as u64).to_le_bytes());
        h.update(self.0.as_bytes());
        h.update(domain.as_bytes());
        h.finalize().into()
    }

    /// A version-4-shaped UUID for `domain`.
    pub fn uuid(&self, domain: &str) -> Uuid {
        let b = self.bytes(domain);
        let mut u = [0u8; 16];
        u.copy_from_slice(&b[..16]);
        uuid::Builder::from_random_bytes(u).into_uuid()
    }

    /// A 32-bit value for `domain` (FAT volume serials, MBR disk signatures).
    pub fn u32(&self, domain: &str) -> u32 {
        let b = self.bytes(domain);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}
