//! The lifecycle of a signing key, as an enum whose transitions refuse illegal moves.

/// `next` (published, not signing) → `active` (signs) → `retired` (published
/// until every token it signed has expired and caches have turned over) →
/// `retained` (unpublished; verifies old `id_token_hint`s for 30 days) → deleted.
/// `revoked` unpublishes a compromised key at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    Next,
    Active,
    Retired,
    Retained,
    Revoked,
}

impl KeyState {
    pub const ALL: [KeyState; 5] = [
        KeyState::Next,
        KeyState::Active,
        KeyState::Retired,
        KeyState::Retained,
        KeyState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Retained => "retained",
            KeyState::Revoked => "revoked",
        }
    }

    /// Whether the key is in the JWKS.
    pub fn is_published(self) -> bool {
        matches!(self, KeyState::Next | KeyState::Active | KeyState::Retired)
    }

    /// Whether the key still holds its private half.
    pub fn holds_private_key(self) -> bool {
        matches!(self, KeyState::Next | KeyState::Active)
    }

    /// `next` → `active`.
    pub fn promote(self) -> Result<Self, String> {
        self.step(KeyState::Next, KeyState::Active)
    }

    /// `active` → `retired`.
    pub fn retire(self) -> Result<Self, String> {
        self.step(KeyState::Active, KeyState::Retired)
    }

    /// `retired` → `retained`.
    pub fn retain(self) -> Result<Self, String> {
        self.step(KeyState::Retired, KeyState::Retained)
    }

    /// Any state but `revoked` → `revoked`.
    pub fn revoke(self) -> Result<Self, String> {
        match self {
            KeyState::Revoked => Err("the key is already revoked".into()),
            _ => Ok(KeyState::Revoked),
        }
    }

    fn step(self, from: KeyState, to: KeyState) -> Result<Self, String> {
        if self == from {
            Ok(to)
        } else {
            Err(format!("a {self} key cannot become {to}"))
        }
    }
}

protocol_names!(KeyState, "key state");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_move_only_forward_through_their_lifecycle() {
        assert_eq!(KeyState::Next.promote(), Ok(KeyState::Active));
        assert_eq!(KeyState::Active.retire(), Ok(KeyState::Retired));
        assert_eq!(KeyState::Retired.retain(), Ok(KeyState::Retained));
        assert!(KeyState::Active.promote().is_err());
        assert!(KeyState::Next.retire().is_err());
        assert!(KeyState::Retained.retire().is_err());
        assert!(KeyState::Revoked.revoke().is_err());
        assert_eq!(KeyState::Retained.revoke(), Ok(KeyState::Revoked));
    }

    #[test]
    fn only_next_active_and_retired_are_published() {
        let published: Vec<_> = KeyState::ALL.into_iter().filter(|s| s.is_published()).collect();
        assert_eq!(published, [KeyState::Next, KeyState::Active, KeyState::Retired]);
    }
}
