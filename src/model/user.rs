//! Usernames and the OIDC standard claims of a user.

use std::fmt;

use super::FieldError;

/// A username: 1 to 64 characters, no white space, control or invisible
/// formatting characters (zero-width, bidirectional overrides: they make
/// look-alike names). Unique after `username_key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        let invisible = |c: char| matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}');
        if len == 0 || len > 64 || raw.chars().any(|c| c.is_whitespace() || c.is_control() || invisible(c)) {
            return Err(format!("`{raw}` is not a username (1 to 64 characters, no spaces)"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form this username is stored, found and throttled by.
    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

/// The one normalisation of usernames — for storing, looking up and
/// throttling: Unicode NFKC (full-width and compatibility forms fold to their
/// plain letters), then lower case. Computed here, never by the database,
/// whose `lower()` follows its locale.
pub fn username_key(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    raw.nfkc().collect::<String>().to_lowercase()
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address claim (OIDC Core §5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

/// The standard claims of OIDC Core §5.1 that an admin sets on a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StandardClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    #[serde(skip_serializing_if = "Address::is_empty")]
    pub address: Address,
}

const MAX_CLAIM_LEN: usize = 512;

/// A standard claim (OIDC Core §5.1) that a person may edit on their own
/// account page, as `LANYARD_ACCOUNT_EDITABLE_CLAIMS` names it. `sub`, the
/// `*_verified` flags and `updated_at` are Lanyard's to say, never the
/// person's: they have no variant. `email` and `phone_number` may be listed;
/// a changed value loses its `*_verified` flag (the person proved nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileClaim {
    Name,
    GivenName,
    FamilyName,
    MiddleName,
    Nickname,
    PreferredUsername,
    Profile,
    Picture,
    Website,
    Email,
    Gender,
    Birthdate,
    Zoneinfo,
    Locale,
    PhoneNumber,
}

impl ProfileClaim {
    pub const ALL: [ProfileClaim; 15] = [
        ProfileClaim::Name,
        ProfileClaim::GivenName,
        ProfileClaim::FamilyName,
        ProfileClaim::MiddleName,
        ProfileClaim::Nickname,
        ProfileClaim::PreferredUsername,
        ProfileClaim::Profile,
        ProfileClaim::Picture,
        ProfileClaim::Website,
        ProfileClaim::Email,
        ProfileClaim::Gender,
        ProfileClaim::Birthdate,
        ProfileClaim::Zoneinfo,
        ProfileClaim::Locale,
        ProfileClaim::PhoneNumber,
    ];

    /// The claim's name in tokens, forms and the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileClaim::Name => "name",
            ProfileClaim::GivenName => "given_name",
            ProfileClaim::FamilyName => "family_name",
            ProfileClaim::MiddleName => "middle_name",
            ProfileClaim::Nickname => "nickname",
            ProfileClaim::PreferredUsername => "preferred_username",
            ProfileClaim::Profile => "profile",
            ProfileClaim::Picture => "picture",
            ProfileClaim::Website => "website",
            ProfileClaim::Email => "email",
            ProfileClaim::Gender => "gender",
            ProfileClaim::Birthdate => "birthdate",
            ProfileClaim::Zoneinfo => "zoneinfo",
            ProfileClaim::Locale => "locale",
            ProfileClaim::PhoneNumber => "phone_number",
        }
    }

    /// A claim a person may edit; any other name (unknown, or Lanyard's own
    /// such as `sub` and `email_verified`) is refused, saying which.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(claim) = Self::ALL.into_iter().find(|c| c.as_str() == raw) {
            return Ok(claim);
        }
        let lanyards = [
            "sub",
            "email_verified",
            "phone_number_verified",
            "updated_at",
            "address",
        ];
        Err(match lanyards.contains(&raw) {
            true => format!("`{raw}` is not a claim a person may edit"),
            false => format!("`{raw}` is not an OIDC standard claim (OIDC Core §5.1)"),
        })
    }

    /// Its value in `claims`.
    pub fn get(self, claims: &StandardClaims) -> Option<&str> {
        self.slot_of(claims).as_deref()
    }

    /// Sets its value in `claims` (blank: absent). A changed email or phone
    /// number is no longer verified.
    pub fn set(self, claims: &mut StandardClaims, value: Option<String>) {
        let value = value.filter(|v| !v.trim().is_empty());
        let changed = self.get(claims) != value.as_deref();
        match self {
            ProfileClaim::Email if changed => claims.email_verified = false,
            ProfileClaim::PhoneNumber if changed => claims.phone_number_verified = false,
            _ => {}
        }
        *self.slot(claims) = value;
    }

    fn slot_of(self, c: &StandardClaims) -> &Option<String> {
        match self {
            ProfileClaim::Name => &c.name,
            ProfileClaim::GivenName => &c.given_name,
            ProfileClaim::FamilyName => &c.family_name,
            ProfileClaim::MiddleName => &c.middle_name,
            ProfileClaim::Nickname => &c.nickname,
            ProfileClaim::PreferredUsername => &c.preferred_username,
            ProfileClaim::Profile => &c.profile,
            ProfileClaim::Picture => &c.picture,
            ProfileClaim::Website => &c.website,
            ProfileClaim::Email => &c.email,
            ProfileClaim::Gender => &c.gender,
            ProfileClaim::Birthdate => &c.birthdate,
            ProfileClaim::Zoneinfo => &c.zoneinfo,
            ProfileClaim::Locale => &c.locale,
            ProfileClaim::PhoneNumber => &c.phone_number,
        }
    }

    fn slot(self, c: &mut StandardClaims) -> &mut Option<String> {
        match self {
            ProfileClaim::Name => &mut c.name,
            ProfileClaim::GivenName => &mut c.given_name,
            ProfileClaim::FamilyName => &mut c.family_name,
            ProfileClaim::MiddleName => &mut c.middle_name,
            ProfileClaim::Nickname => &mut c.nickname,
            ProfileClaim::PreferredUsername => &mut c.preferred_username,
            ProfileClaim::Profile => &mut c.profile,
            ProfileClaim::Picture => &mut c.picture,
            ProfileClaim::Website => &mut c.website,
            ProfileClaim::Email => &mut c.email,
            ProfileClaim::Gender => &mut c.gender,
            ProfileClaim::Birthdate => &mut c.birthdate,
            ProfileClaim::Zoneinfo => &mut c.zoneinfo,
            ProfileClaim::Locale => &mut c.locale,
            ProfileClaim::PhoneNumber => &mut c.phone_number,
        }
    }
}

/// The longest password accepted (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A password to set (by an admin, the CLI or the person themselves):
/// 1 to [`MAX_PASSWORD_CHARS`] characters. Redacted in `Debug`.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: String) -> Result<Self, String> {
        match raw.is_empty() || raw.chars().count() > MAX_PASSWORD_CHARS {
            true => Err(format!("must be 1 to {MAX_PASSWORD_CHARS} characters")),
            false => Ok(Self(raw)),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl StandardClaims {
    /// Checks each claim's form (OIDC Core §5.1); empty strings become absent.
    pub fn validated(mut self) -> Result<Self, FieldError> {
        // OIDC Core §5.1.1: these two may hold several lines.
        normalise("address-formatted", &mut self.address.formatted, Lines::Many)?;
        normalise("address-street-address", &mut self.address.street_address, Lines::Many)?;
        let one_line_fields: [(&'static str, &mut Option<String>); 19] = [
            ("name", &mut self.name),
            ("given-name", &mut self.given_name),
            ("family-name", &mut self.family_name),
            ("middle-name", &mut self.middle_name),
            ("nickname", &mut self.nickname),
            ("preferred-username", &mut self.preferred_username),
            ("profile", &mut self.profile),
            ("picture", &mut self.picture),
            ("website", &mut self.website),
            ("email", &mut self.email),
            ("gender", &mut self.gender),
            ("birthdate", &mut self.birthdate),
            ("zoneinfo", &mut self.zoneinfo),
            ("locale", &mut self.locale),
            ("phone-number", &mut self.phone_number),
            ("address-locality", &mut self.address.locality),
            ("address-region", &mut self.address.region),
            ("address-postal-code", &mut self.address.postal_code),
            ("address-country", &mut self.address.country),
        ];
        for (field, value) in one_line_fields {
            normalise(field, value, Lines::One)?;
        }
        for (field, value) in [
            ("profile", &self.profile),
            ("picture", &self.picture),
            ("website", &self.website),
        ] {
            if let Some(v) = value {
                check_web_url(v).map_err(|m| FieldError::new(field, m))?;
            }
        }
        if let Some(email) = &self.email {
            check_email(email).map_err(|m| FieldError::new("email", m))?;
        }
        if self.email_verified && self.email.is_none() {
            return Err(FieldError::new("email-verified", "needs an email"));
        }
        if let Some(phone) = &self.phone_number {
            check_phone(phone).map_err(|m| FieldError::new("phone-number", m))?;
        }
        if self.phone_number_verified && self.phone_number.is_none() {
            return Err(FieldError::new("phone-number-verified", "needs a phone number"));
        }
        if let Some(date) = &self.birthdate {
            check_birthdate(date).map_err(|m| FieldError::new("birthdate", m))?;
        }
        if let Some(zone) = &self.zoneinfo {
            let ok = zone.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
                && zone.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if !ok {
                return Err(FieldError::new(
                    "zoneinfo",
                    format!("`{zone}` is not a time zone name such as Europe/Paris"),
                ));
            }
        }
        if let Some(locale) = &self.locale {
            check_locale(locale).map_err(|m| FieldError::new("locale", m))?;
        }
        Ok(self)
    }
}

/// Whether a claim may hold several lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    /// Separated by "\r\n" or "\n" (OIDC Core §5.1.1), kept as given.
    Many,
}

fn normalise(field: &'static str, value: &mut Option<String>, lines: Lines) -> Result<(), FieldError> {
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
        *value = None;
    }
    let Some(v) = value else { return Ok(()) };
    if v.chars().count() > MAX_CLAIM_LEN {
        return Err(FieldError::new(
            field,
            format!("is longer than {MAX_CLAIM_LEN} characters"),
        ));
    }
    let text = match lines {
        Lines::One => v.as_str().into(),
        Lines::Many => v.replace("\r\n", "").replace('\n', ""),
    };
    if text.chars().any(char::is_control) {
        let message = match lines {
            Lines::One => "contains control characters (one line only)",
            Lines::Many => "contains control characters other than line breaks",
        };
        return Err(FieldError::new(field, message));
    }
    Ok(())
}

/// OIDC Core §5.1 `birthdate`: `YYYY-MM-DD` (the year `0000` when omitted)
/// or `YYYY` alone.
fn check_birthdate(date: &str) -> Result<(), String> {
    let year_only = date.len() == 4 && date.bytes().all(|b| b.is_ascii_digit());
    let full = date.len() == 10 && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok();
    if year_only || full {
        Ok(())
    } else {
        Err(format!(
            "`{date}` is not a date written YYYY-MM-DD (0000 for no year) or YYYY"
        ))
    }
}

fn check_web_url(raw: &str) -> Result<(), String> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() => Ok(()),
        _ => Err(format!("`{raw}` is not an http(s) URL")),
    }
}

/// An email address as Lanyard accepts one: a local part, `@`, a dotted domain.
pub fn check_email(raw: &str) -> Result<(), String> {
    let ok = match raw.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{raw}` is not an email address"))
    }
}

/// OIDC Core §5.1 recommends E.164, written as in its examples — `+1 (425)
/// 555-1212`, `+56 (2) 687 2400` — with an RFC 3966 `;ext=` extension: an
/// optional `+`, digits grouped by spaces, parentheses and hyphens.
fn check_phone(raw: &str) -> Result<(), String> {
    let (number, ext) = raw.split_once(";ext=").unwrap_or((raw, "0"));
    let rest = number.strip_prefix('+').unwrap_or(number);
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    let ok = (3..=20).contains(&digits)
        && rest.chars().all(|c| c.is_ascii_digit() || " ()-".contains(c))
        && rest.starts_with(|c: char| c.is_ascii_digit() || c == '(')
        && !ext.is_empty()
        && ext.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("`{raw}` is not a phone number such as +15551234567"))
    }
}

/// A BCP 47 language tag such as `en-US` (OIDC Core §5.1 allows `en_US` too).
fn check_locale(raw: &str) -> Result<(), String> {
    let mut parts = raw.split(['-', '_']);
    let lang_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if lang_ok && rest_ok {
        Ok(())
    } else {
        Err(format!("`{raw}` is not a language tag such as en-US"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> StandardClaims {
        StandardClaims {
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            email_verified: true,
            birthdate: Some("1815-12-10".into()),
            zoneinfo: Some("Europe/London".into()),
            locale: Some("en-GB".into()),
            phone_number: Some("+441234567890".into()),
            website: Some("https://ada.example".into()),
            ..Default::default()
        }
    }

    #[test]
    fn well_formed_claims_pass() {
        assert!(claims().validated().is_ok());
    }

    #[test]
    fn each_malformed_claim_names_its_field() {
        let cases: Vec<(&str, StandardClaims)> = vec![
            (
                "email",
                StandardClaims {
                    email: Some("nope".into()),
                    ..claims()
                },
            ),
            (
                "email-verified",
                StandardClaims {
                    email: None,
                    ..claims()
                },
            ),
            (
                "birthdate",
                StandardClaims {
                    birthdate: Some("10/12/1815".into()),
                    ..claims()
                },
            ),
            (
                "phone-number",
                StandardClaims {
                    phone_number: Some("call me".into()),
                    ..claims()
                },
            ),
            (
                "website",
                StandardClaims {
                    website: Some("javascript:alert(1)".into()),
                    ..claims()
                },
            ),
            (
                "locale",
                StandardClaims {
                    locale: Some("english please".into()),
                    ..claims()
                },
            ),
            (
                "zoneinfo",
                StandardClaims {
                    zoneinfo: Some("<Mars>".into()),
                    ..claims()
                },
            ),
        ];
        for (field, c) in cases {
            assert_eq!(c.validated().unwrap_err().field, field);
        }
    }

    #[test]
    fn address_lines_may_be_separated_by_newlines() {
        // OIDC Core §5.1.1: `formatted` and `street_address` may hold several
        // lines, separated by "\r\n" or "\n".
        for lines in [
            "12 St James's Square\nLondon",
            "12 St James's Square\r\nLondon\r\nSW1Y 4JH",
        ] {
            let mut c = claims();
            c.address.formatted = Some(lines.into());
            c.address.street_address = Some(lines.into());
            let ok = c.validated().expect("multi-line address");
            assert_eq!(ok.address.formatted.as_deref(), Some(lines), "kept intact");
        }
        for (bad, field) in [
            ("a\rb", "address-formatted"),
            ("a\u{0}b", "address-formatted"),
            ("a\tb", "address-formatted"),
        ] {
            let mut c = claims();
            c.address.formatted = Some(bad.into());
            assert_eq!(c.validated().unwrap_err().field, field, "{bad:?}");
        }
        let mut c = claims();
        c.address.locality = Some("London\nUK".into());
        assert_eq!(c.validated().unwrap_err().field, "address-locality", "one line only");
    }

    #[test]
    fn a_birthdate_may_omit_its_year_or_be_only_a_year() {
        // OIDC Core §5.1: YYYY-MM-DD, the year 0000 meaning omitted, or YYYY.
        for ok in ["1815-12-10", "0000-12-10", "0000-02-29", "1815"] {
            let c = StandardClaims {
                birthdate: Some(ok.into()),
                ..claims()
            };
            assert!(c.validated().is_ok(), "{ok}");
        }
        for bad in ["18150", "1815-13-01", "1815-12", "10/12/1815", "1815-12-10T00:00"] {
            let c = StandardClaims {
                birthdate: Some(bad.into()),
                ..claims()
            };
            assert_eq!(c.validated().unwrap_err().field, "birthdate", "{bad}");
        }
    }

    #[test]
    fn phone_numbers_written_as_oidc_cores_examples_are_accepted() {
        for ok in [
            "+1 (425) 555-1212",
            "+56 (2) 687 2400",
            "+1 (604) 555-1234;ext=5678",
            "+441234567890",
        ] {
            let c = StandardClaims {
                phone_number: Some(ok.into()),
                ..claims()
            };
            assert!(c.validated().is_ok(), "{ok}");
        }
        for bad in ["call me", "+", "((()))", "+1 555 1212;ext=", "+1 555 1212 ext 5"] {
            let c = StandardClaims {
                phone_number: Some(bad.into()),
                ..claims()
            };
            assert_eq!(c.validated().unwrap_err().field, "phone-number", "{bad}");
        }
    }

    #[test]
    fn only_profile_claims_are_editable() {
        for claim in ProfileClaim::ALL {
            assert_eq!(ProfileClaim::parse(claim.as_str()), Ok(claim));
        }
        for refused in [
            "sub",
            "email_verified",
            "phone_number_verified",
            "updated_at",
            "nope",
            "",
        ] {
            assert!(ProfileClaim::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_changed_email_is_no_longer_verified() {
        let mut c = claims();
        ProfileClaim::Email.set(&mut c, Some("ada@example.com".into()));
        assert!(c.email_verified, "unchanged: still verified");
        ProfileClaim::Email.set(&mut c, Some("ada@elsewhere.example".into()));
        assert!(!c.email_verified);
        ProfileClaim::Name.set(&mut c, Some("  ".into()));
        assert_eq!(c.name, None, "blank is absent");
    }

    #[test]
    fn usernames_fold_compatibility_forms_and_case_into_one_key() {
        assert_eq!(username_key("ＡＤＡ"), "ada");
        assert_eq!(username_key("Straẞe"), "straße");
        assert_eq!(username_key("ﬁona"), "fiona");
        assert_eq!(username_key("ada"), "ada");
    }

    #[test]
    fn usernames_refuse_spaces_and_empty() {
        assert!(Username::parse("ada").is_ok());
        assert!(Username::parse("ada@example.com").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("ada lovelace").is_err());
        for look_alike in ["ad\u{200B}a", "\u{202E}ada", "ada\u{FEFF}", "a\u{00AD}da"] {
            assert!(Username::parse(look_alike).is_err(), "{look_alike:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn a_username_key_is_its_own_key(raw in "[a-zA-Z0-9ÀÖØöø-ÿĀ-ſＡ-Ｚａ-ｚ０-９ẞß._@-]{1,30}") {
                let key = username_key(&raw);
                prop_assert_eq!(username_key(&key), key.clone(), "stable: storing, finding and throttling agree");
                prop_assert_eq!(username_key(&raw.to_lowercase()), key, "case never makes another account");
            }

            #[test]
            fn claims_validate_or_name_a_field_never_a_panic(
                text in ".{0,40}", email in ".{0,20}", phone in "[+0-9 ()-]{0,20}", birthdate in "[0-9-]{0,12}"
            ) {
                let c = StandardClaims {
                    name: Some(text.clone()),
                    email: Some(email),
                    phone_number: Some(phone),
                    birthdate: Some(birthdate),
                    address: Address { formatted: Some(text), ..Default::default() },
                    ..Default::default()
                };
                if let Err(e) = c.validated() {
                    prop_assert!(!e.field.is_empty());
                }
            }
        }
    }
}
