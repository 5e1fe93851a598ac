//! What a parameter's values look like on the command line: [`Scalar`] for numbers, paths and the
//! enums experiments take, parsed and shown one way.

use std::path::PathBuf;

/// A value one parameter (or one element of a list parameter) takes on the command line.
pub trait Scalar: Sized + Clone + 'static {
    /// How values are described in help and errors: `"an integer"` / `"integers"`, or the names a
    /// choice accepts.
    fn expected(plural: bool) -> String;
    /// Parses one value (`None`: not a valid value).
    fn parse_one(s: &str) -> Option<Self>;
    /// The value as the command line writes it (`parse_one(show_one(v)) == v`).
    fn show_one(&self) -> String;
    /// Whether the values are counts (bounded by [`MAX_COUNT`](super::MAX_COUNT) unless the field
    /// sets its own bound).
    const COUNT: bool = false;
    /// The value as a number, for the bounds of [`Field::at_least`](super::Field::at_least) and friends.
    fn number(&self) -> Option<f64> {
        None
    }
}

impl Scalar for usize {
    const COUNT: bool = true;
    fn expected(plural: bool) -> String {
        if plural { "integers" } else { "an integer" }.into()
    }
    fn parse_one(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
    fn show_one(&self) -> String {
        self.to_string()
    }
    fn number(&self) -> Option<f64> {
        Some(*self as f64)
    }
}

impl Scalar for f64 {
    fn expected(plural: bool) -> String {
        if plural {
            "finite numbers"
        } else {
            "a finite number"
        }
        .into()
    }
    fn parse_one(s: &str) -> Option<Self> {
        s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
    }
    fn show_one(&self) -> String {
        // Rust's shortest representation that reads back to the same f64
        format!("{self}")
    }
    fn number(&self) -> Option<f64> {
        Some(*self)
    }
}

impl Scalar for PathBuf {
    fn expected(plural: bool) -> String {
        if plural { "paths" } else { "a path" }.into()
    }
    fn parse_one(s: &str) -> Option<Self> {
        (!s.is_empty()).then(|| PathBuf::from(s))
    }
    fn show_one(&self) -> String {
        self.display().to_string()
    }
}

/// What a choice accepts: `names`, or `comma-separated names` for a list.
pub fn choice_list(names: &str, plural: bool) -> String {
    if plural {
        format!("comma-separated {names}")
    } else {
        names.to_string()
    }
}

/// `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Implements [`Scalar`] for an enum from its names: `choices!(Step { "em" => Step::EulerMaruyama,
/// "exact" => Step::ExactLinear })`. The first name of a value is the one shown.
macro_rules! choices {
    ($ty:ty { $($name:literal => $value:expr),+ $(,)? }) => {
        impl $crate::experiments::Scalar for $ty {
            fn expected(plural: bool) -> String {
                let names = $crate::experiments::contract::one_of(&[$($name),+]);
                $crate::experiments::contract::choice_list(&names, plural)
            }
            fn parse_one(s: &str) -> Option<Self> {
                match s.trim() {
                    $($name => Some($value),)+
                    _ => None,
                }
            }
            fn show_one(&self) -> String {
                $(if *self == $value { return $name.to_string(); })+
                String::new()
            }
        }
    };
}

choices!(crate::linear::Sampler {
    "reduced" => crate::linear::Sampler::Reduced,
    "raw" => crate::linear::Sampler::Raw,
});
choices!(crate::molrg::Solver {
    "pca" => crate::molrg::Solver::Pca,
    "clustering" => crate::molrg::Solver::Clustering,
    "sgd" => crate::molrg::Solver::Sgd,
    "sgd-from-clustering" => crate::molrg::Solver::SgdFromClustering,
});
choices!(crate::molrg::Bases {
    "orthogonal" => crate::molrg::Bases::Orthogonal,
    "random" => crate::molrg::Bases::Random,
});
choices!(crate::sampler::Step {
    "em" => crate::sampler::Step::EulerMaruyama,
    "exact" => crate::sampler::Step::ExactLinear,
});
choices!(crate::schedule::ForwardProcess {
    "brownian" => crate::schedule::ForwardProcess::Brownian,
    "ou" => crate::schedule::ForwardProcess::Ou,
    "ou-half" => crate::schedule::ForwardProcess::OuHalf,
});
choices!(crate::random_features::DsmTarget {
    "denoising" => crate::random_features::DsmTarget::Denoising,
    "empirical-score" => crate::random_features::DsmTarget::EmpiricalScore,
});
choices!(crate::experiments::novikov::ErrorKind {
    "bounded" => crate::experiments::novikov::ErrorKind::Bounded,
    "unbounded" => crate::experiments::novikov::ErrorKind::Unbounded,
});
#[cfg(feature = "torch")]
choices!(crate::torch::DeviceChoice {
    "cpu" => crate::torch::DeviceChoice::Cpu,
    "cuda" => crate::torch::DeviceChoice::Cuda,
    "auto" => crate::torch::DeviceChoice::Auto,
});

/// Implements [`Scalar`] for a type with `FromStr` and `Display` (which must write what `FromStr`
/// reads), described by `names`.
macro_rules! named {
    ($ty:ty, $names:literal) => {
        impl Scalar for $ty {
            fn expected(plural: bool) -> String {
                choice_list($names, plural)
            }
            fn parse_one(s: &str) -> Option<Self> {
                s.trim().parse().ok()
            }
            fn show_one(&self) -> String {
                self.to_string()
            }
        }
    };
}
#[cfg(feature = "torch")]
named!(
    crate::experiments::trained_2d::Data2d,
    "line, spiral or eight-points"
);
#[cfg(feature = "torch")]
named!(
    crate::experiments::trained_2d::Variant,
    "cem, cem-uniform, cem-squared, sgm or ddpm"
);
#[cfg(feature = "torch")]
named!(
    crate::experiments::cem_digits::DigitsDesign,
    "authors or ddpm-schedule"
);
#[cfg(feature = "torch")]
named!(
    crate::experiments::cem_digits::DigitsObjective,
    "ddpm, cem or cem-uniform"
);
#[cfg(feature = "torch")]
named!(crate::trained::TrainTimes, "grid:N or log-uniform");
#[cfg(feature = "torch")]
choices!(crate::trained::TimeInput {
    "raw" => crate::trained::TimeInput::Raw,
    "features" => crate::trained::TimeInput::Features,
});
#[cfg(feature = "torch")]
choices!(crate::trained::Activation {
    "tanh" => crate::trained::Activation::Tanh,
    "silu" => crate::trained::Activation::Silu,
});

named!(
    crate::schedule::ScheduleKind,
    "linear, quadratic, exponential or power:P with P > 0"
);
