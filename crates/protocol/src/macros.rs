//! Macros that keep the message enums and their payload structs in one list.

/// Defines a message enum whose variants are named like the [`MessageType`]
/// variants they carry, with `message_type()`, payload serialization and a
/// `From<Payload>` per variant.
///
/// [`MessageType`]: crate::MessageType
macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$doc:meta])* $variant:ident($payload:ty), )*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$doc])* $variant($payload), )*
        }

        impl $name {
            /// The wire type (`t`) of this message.
            pub const fn message_type(&self) -> $crate::MessageType {
                match self {
                    $( $name::$variant(_) => $crate::MessageType::$variant, )*
                }
            }

            /// Writes the `p` entry of the envelope.
            pub(crate) fn serialize_payload<M: serde::ser::SerializeMap>(
                &self,
                map: &mut M,
            ) -> Result<(), M::Error> {
                match self {
                    $( $name::$variant(p) => map.serialize_entry("p", p), )*
                }
            }
        }

        $(
            impl From<$payload> for $name {
                fn from(p: $payload) -> $name {
                    $name::$variant(p)
                }
            }
        )*
    };
}

/// A payload struct with a required `room` field, and its private wire twin in
/// which `room` is optional because it may travel in the envelope instead.
macro_rules! room_payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident via $wire:ident {
            $(#[$rdoc:meta])* pub room: RoomId,
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(#[$rdoc])* pub room: RoomId,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        #[derive(serde::Deserialize)]
        struct $wire {
            #[serde(default)]
            room: Option<RoomId>,
            $( $(#[$fmeta])* $field: $ty, )*
        }

        impl $wire {
            fn into_payload(
                self,
                header: &$crate::envelope::Header<'_>,
            ) -> Result<$name, $crate::DecodeError> {
                Ok($name {
                    room: header.payload_room(self.room)?,
                    $( $field: self.$field, )*
                })
            }
        }
    };
}

/// A payload struct of a room-scoped type whose room travels in the envelope,
/// and its private wire twin that also accepts `p.room`.
macro_rules! envelope_room_payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident via $wire:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        #[derive(serde::Deserialize)]
        struct $wire {
            #[serde(default)]
            room: Option<RoomId>,
            $( $(#[$fmeta])* $field: $ty, )*
        }

        impl $wire {
            fn into_payload(
                self,
                header: &$crate::envelope::Header<'_>,
            ) -> Result<(RoomId, $name), $crate::DecodeError> {
                Ok((
                    header.envelope_room(self.room)?,
                    $name { $( $field: self.$field, )* },
                ))
            }
        }
    };
}
