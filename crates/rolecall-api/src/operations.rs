//! The `operations!` table the generator writes into `generated/mod.rs` (one line per entry of
//! `models/operations.txt`), and what it expands to: the `Operation` enum and its lookups.

/// `Name: Service read|write,` per operation, in `models/operations.txt` order.
macro_rules! operations {
    ($($op:ident: $service:ident $access:ident,)*) => {
        /// Every operation this server implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation {
            $($op,)*
        }

        impl Operation {
            /// All operations, in `models/operations.txt` order.
            pub const ALL: &[Operation] = &[$(Operation::$op,)*];

            /// The action name (`Action=`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op),)*
                }
            }

            /// The service that implements it.
            pub fn service(self) -> $crate::service::Service {
                match self {
                    $(Operation::$op => $crate::service::Service::$service,)*
                }
            }

            /// Whether it only reads state (no change is published after it).
            pub fn is_read_only(self) -> bool {
                match self {
                    $(Operation::$op => $crate::operations::operations!(@read_only $access),)*
                }
            }

            /// The operation `service` implements under `name`, if any.
            pub fn from_name(service: $crate::service::Service, name: &str) -> Option<Operation> {
                Some(match (service, name) {
                    $(($crate::service::Service::$service, stringify!($op)) => Operation::$op,)*
                    _ => return None,
                })
            }
        }
    };
    (@read_only read) => { true };
    (@read_only write) => { false };
}
pub(crate) use operations;
