//! Seeds: every random stream of difftheory comes from `(base_seed, task_index)`.
//!
//! [`task_seed`] mixes the two with SplitMix64 so that neighbouring tasks get unrelated streams and a
//! result never depends on which thread ran a task or how a sweep was cut into chunks.

use rand::SeedableRng;

/// The generator used everywhere (ChaCha12: reproducible across platforms and thread counts).
pub type SimRng = rand::rngs::StdRng;

/// One round of SplitMix64 (Steele, Lea, Flood 2014), the standard seed mixer.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of task `index` of a sweep with base seed `base`.
///
/// ```
/// use difftheory::rng::task_seed;
/// assert_eq!(task_seed(1, 7), task_seed(1, 7));
/// assert_ne!(task_seed(1, 7), task_seed(1, 8));
/// assert_ne!(task_seed(1, 7), task_seed(2, 7));
/// ```
pub fn task_seed(base: u64, index: u64) -> u64 {
    splitmix64(splitmix64(base) ^ splitmix64(index.wrapping_add(0x5EED)))
}

/// A generator seeded from `seed`.
pub fn rng_from_seed(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

/// The per-path noise generator of the samplers (Xoshiro256++: a few times faster than
/// [`SimRng`], which matters when every path step draws its own normals; reproducible across
/// platforms and thread counts like everything else here).
pub type PathRng = rand::rngs::Xoshiro256PlusPlus;

/// A path noise generator seeded from `seed`.
pub fn path_rng(seed: u64) -> PathRng {
    PathRng::seed_from_u64(seed)
}
