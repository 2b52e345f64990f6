//! The macro each profile's `faults` module uses to declare its deliberate deviations: the
//! `Fault` enum (kebab-case names in serde and `FromStr`, the rule each breaks, a
//! description), its error for unknown names, and `Faults`, the set switched on for one
//! server (empty, and every check `false`, without the cargo feature `faults`).

/// Declare a profile's faults: `fault_list! { "profile", "example-fault"; Variant =
/// "name", "RULE-ID", "What the server does wrong."; ... }`.
macro_rules! fault_list {
    ($profile:literal, $example:literal;
     $( $variant:ident = $name:literal, $rule:literal, $description:literal; )*) => {
        #[doc = concat!("A deliberate deviation from the `", $profile, "` binding (see the crate README).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum Fault {
            $(
                #[doc = $description]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Fault {
            /// Every fault, in catalogue order.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            #[doc = concat!("The kebab-case name (`", $example, "`), as in serde and `FromStr`.")]
            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }

            /// The ID of the binding rule the fault breaks.
            pub fn rule(self) -> &'static str {
                match self { $(Fault::$variant => $rule,)* }
            }

            /// What the server does wrong.
            pub fn description(self) -> &'static str {
                match self { $(Fault::$variant => $description,)* }
            }
        }

        impl std::fmt::Display for Fault {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// An unknown fault name.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct UnknownFault(pub String);

        impl std::fmt::Display for UnknownFault {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    concat!(
                        "unknown ", $profile, " fault {:?}; use a kebab-case name from its ",
                        "Fault::ALL (listed in the reference server's README), e.g. ", $example
                    ),
                    self.0
                )
            }
        }

        impl std::error::Error for UnknownFault {}

        impl std::str::FromStr for Fault {
            type Err = UnknownFault;

            fn from_str(name: &str) -> Result<Fault, UnknownFault> {
                Fault::ALL
                    .iter()
                    .copied()
                    .find(|f| f.name() == name)
                    .ok_or_else(|| UnknownFault(name.to_owned()))
            }
        }

        /// The faults switched on for one server (a bit set; empty without the feature).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub(crate) struct Faults(u128);

        impl Faults {
            /// The set of `faults`.
            #[cfg(feature = "faults")]
            pub(crate) fn of(faults: &[Fault]) -> Faults {
                Faults(faults.iter().fold(0, |bits, &f| bits | 1 << f as u32))
            }

            /// Whether `fault` is on. Always `false` without the `faults` feature.
            #[inline(always)]
            pub(crate) fn on(self, fault: Fault) -> bool {
                #[cfg(feature = "faults")]
                {
                    self.0 & (1 << fault as u32) != 0
                }
                #[cfg(not(feature = "faults"))]
                {
                    let _ = fault;
                    false
                }
            }
        }
    };
}

pub(crate) use fault_list;
