//! `lanyard user create | list | show | update | disable | enable | delete | invite | invitations | uninvite`:
//! thin wrappers over the admin flows, audited with `cli` as the actor.

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::admin::{audit, read_password};
use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::admin::{self, users::NewUserInput};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::StandardClaims;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from a terminal or with --password-stdin.
    Create(Box<UserCreate>),
    /// List users (newest first), optionally those matching --search.
    List(UserList),
    /// Show one user (by username or sub): claims, sessions, consents, grants.
    Show(UserRef),
    /// Change a user: only the flags given (an empty value removes a claim).
    Update(Box<UserUpdate>),
    /// Disable a user: sign-in refused, every session and grant ends.
    Disable(UserRef),
    /// Enable a disabled user.
    Enable(UserRef),
    /// Delete a user and everything issued to them.
    Delete(UserRef),
    /// List a user's second factors; --reset removes them (a lost phone).
    Mfa(UserMfa),
    /// Invite someone to register (LANYARD_SIGNUP invite or open): prints the link, mails it when mail is on.
    Invite(UserInvite),
    /// List the pending invitations (never their links): id, email, role, expiry.
    Invitations(JsonFlag),
    /// Withdraw a pending invitation (its id from `user invitations`): its link stops working.
    Uninvite(InvitationRef),
}

#[derive(Debug, Args)]
pub struct InvitationRef {
    /// The invitation's id.
    id: Uuid,
}

#[derive(Debug, Args)]
pub struct UserInvite {
    /// The invited address (fixed in the registration form).
    email: String,
    /// The registered account gets the admin role.
    #[arg(long)]
    admin: bool,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserMfa {
    /// Username or sub.
    user: String,
    /// Remove every second factor: the password alone signs in again.
    #[arg(long)]
    reset: bool,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserCreate {
    /// Sign-in name (unique regardless of case).
    username: String,
    /// Read the password as one line from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Give the user the admin role.
    #[arg(long)]
    admin: bool,
    #[command(flatten)]
    claims: ClaimFlags,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserList {
    /// Only users whose username or email contains this.
    #[arg(long, value_name = "TEXT", default_value = "")]
    search: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserRef {
    /// The user's username or sub.
    user: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserUpdate {
    /// The user's username or sub.
    user: String,
    /// A new password, read as one line from standard input (ends every session and grant).
    #[arg(long)]
    password_stdin: bool,
    /// Give (`--admin`, `--admin=true`) or take (`--admin=false`) the admin role.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    admin: Option<bool>,
    #[command(flatten)]
    claims: ClaimFlags,
    #[command(flatten)]
    out: JsonFlag,
}

/// The OIDC standard claims (OIDC Core §5.1), each a flag of `create` and `update`.
#[derive(Debug, Default, Args)]
pub struct ClaimFlags {
    #[arg(long, value_name = "E")]
    email: Option<String>,
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    email_verified: Option<bool>,
    #[arg(long, value_name = "N")]
    name: Option<String>,
    #[arg(long, value_name = "G")]
    given_name: Option<String>,
    #[arg(long, value_name = "F")]
    family_name: Option<String>,
    #[arg(long, value_name = "M")]
    middle_name: Option<String>,
    #[arg(long, value_name = "N")]
    nickname: Option<String>,
    #[arg(long, value_name = "P")]
    preferred_username: Option<String>,
    #[arg(long, value_name = "URL")]
    profile: Option<String>,
    #[arg(long, value_name = "URL")]
    picture: Option<String>,
    #[arg(long, value_name = "URL")]
    website: Option<String>,
    #[arg(long, value_name = "G")]
    gender: Option<String>,
    /// YYYY-MM-DD (or YYYY, or 0000-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    birthdate: Option<String>,
    /// Time zone, such as Europe/Paris.
    #[arg(long, value_name = "TZ")]
    zoneinfo: Option<String>,
    /// Language tag, such as en-US.
    #[arg(long, value_name = "L")]
    locale: Option<String>,
    /// E.164, such as +15551234567.
    #[arg(long, value_name = "P")]
    phone_number: Option<String>,
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    phone_number_verified: Option<bool>,
    #[arg(long, value_name = "S")]
    address_formatted: Option<String>,
    #[arg(long, value_name = "S")]
    address_street_address: Option<String>,
    #[arg(long, value_name = "S")]
    address_locality: Option<String>,
    #[arg(long, value_name = "S")]
    address_region: Option<String>,
    #[arg(long, value_name = "S")]
    address_postal_code: Option<String>,
    #[arg(long, value_name = "S")]
    address_country: Option<String>,
}

/// `Some("")` removes the value; `None` keeps it.
fn overlay(old: &mut Option<String>, new: Option<String>) {
    if let Some(v) = new {
        *old = Some(v).filter(|v| !v.is_empty());
    }
}

impl ClaimFlags {
    /// These flags over `claims`: what a flag names changes, the rest stays.
    fn apply_to(self, mut c: StandardClaims) -> StandardClaims {
        let email_before = c.email.clone();
        let texts = [
            (&mut c.email, self.email),
            (&mut c.name, self.name),
            (&mut c.given_name, self.given_name),
            (&mut c.family_name, self.family_name),
            (&mut c.middle_name, self.middle_name),
            (&mut c.nickname, self.nickname),
            (&mut c.preferred_username, self.preferred_username),
            (&mut c.profile, self.profile),
            (&mut c.picture, self.picture),
            (&mut c.website, self.website),
            (&mut c.gender, self.gender),
            (&mut c.birthdate, self.birthdate),
            (&mut c.zoneinfo, self.zoneinfo),
            (&mut c.locale, self.locale),
            (&mut c.phone_number, self.phone_number),
            (&mut c.address.formatted, self.address_formatted),
            (&mut c.address.street_address, self.address_street_address),
            (&mut c.address.locality, self.address_locality),
            (&mut c.address.region, self.address_region),
            (&mut c.address.postal_code, self.address_postal_code),
            (&mut c.address.country, self.address_country),
        ];
        for (old, new) in texts {
            overlay(old, new);
        }
        // A new address is not verified unless the flag says so.
        c.email_verified = self
            .email_verified
            .unwrap_or(c.email_verified && c.email == email_before);
        c.phone_number_verified = self.phone_number_verified.unwrap_or(c.phone_number_verified);
        c
    }
}

pub async fn run(cmd: UserCommand, config: &Config) -> Result<(), Failure> {
    match cmd {
        UserCommand::Create(args) => create(*args, config).await,
        UserCommand::List(a) => {
            let pool = connect_migrated(config).await?;
            let users = admin::users::search(&pool, &a.search, 10_000, 0)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &users, |list| {
                let lines: Vec<String> = list
                    .iter()
                    .map(|u| serde_json::to_string(u).unwrap_or_default())
                    .collect();
                format!("{} user(s)\n{}", list.len(), lines.join("\n"))
            })
        }
        UserCommand::Show(a) => {
            let pool = connect_migrated(config).await?;
            let sub = admin::users::resolve(&pool, &a.user).await.map_err(Failure::refused)?;
            let user = admin::users::view(&pool, &SystemClock, sub)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &user, |u| {
                serde_json::to_string_pretty(u).unwrap_or_default()
            })
        }
        UserCommand::Update(args) => update(*args, config).await,
        UserCommand::Mfa(args) => mfa(args, config).await,
        UserCommand::Invite(args) => invite(args, config).await,
        UserCommand::Invitations(out) => invitations(out, config).await,
        UserCommand::Uninvite(args) => uninvite(args, config).await,
        UserCommand::Disable(a) => set_disabled(a, true, config).await,
        UserCommand::Enable(a) => set_disabled(a, false, config).await,
        UserCommand::Delete(a) => {
            let pool = connect_migrated(config).await?;
            let sub = admin::users::resolve(&pool, &a.user).await.map_err(Failure::refused)?;
            let username = admin::users::delete(&pool, &SystemClock, sub)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "deleted a user",
                serde_json::json!({ "sub": sub, "username": username }),
            )
            .await;
            let done = serde_json::json!({ "sub": sub, "deleted": true });
            print(a.out.json, &done, |_| format!("deleted user {sub}"))
        }
    }
}

/// Lists a user's second factors, or removes them (audited).
async fn mfa(args: UserMfa, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let sub = admin::users::resolve(&pool, &args.user)
        .await
        .map_err(Failure::refused)?;
    let factors = match args.reset {
        false => admin::users::factors(&pool, sub).await,
        true => admin::users::reset_factors(&pool, sub).await,
    }
    .map_err(Failure::refused)?;
    if args.reset {
        let details = serde_json::json!({ "sub": sub, "had": factors });
        audit(&pool, "user: factors", details).await;
    }
    let shown = serde_json::json!({ "sub": sub, "username": factors.username, "reset": args.reset,
        "totp": factors.totp, "totp_created_at": factors.totp_created_at,
        "totp_last_used_at": factors.totp_last_used_at, "recovery_codes_left": factors.recovery_codes_left,
        "passkeys": factors.passkeys });
    print(args.out.json, &shown, |_| {
        let mut what: Vec<String> = Vec::new();
        if factors.totp {
            let left = factors.recovery_codes_left;
            what.push(format!("an authenticator app (TOTP), {left} unused recovery code(s)"));
        }
        for k in &factors.passkeys {
            let used = k
                .last_used_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".to_owned());
            what.push(format!(
                "passkey \"{}\" (added {}, last used {used})",
                k.name,
                k.created_at.to_rfc3339()
            ));
        }
        let what = match what.is_empty() {
            true => "no second factor".to_owned(),
            false => what.join("; "),
        };
        match args.reset {
            true => format!(
                "{}: removed {what}; the password alone signs in again",
                factors.username
            ),
            false => format!("{}: {what}", factors.username),
        }
    })
}

/// An invitation: mailed when `LANYARD_SMTP_URL` is set, its link printed either way.
async fn invite(args: UserInvite, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let who = admin::invitations::Inviter {
        config,
        mail_on: config.smtp_url.is_some(),
        by: "cli",
    };
    let input = admin::invitations::InviteInput {
        email: args.email,
        is_admin: args.admin,
    };
    let invitation = admin::invitations::invite(&pool, &SystemClock, &who, input)
        .await
        .map_err(Failure::refused)?;
    audit(&pool, "invited someone", admin::invitations::details(&invitation)).await;
    print(args.out.json, &invitation, |i| {
        let mailed = match i.mailed {
            true => "mailed to them; ",
            false => "not mailed (no LANYARD_SMTP_URL): hand it over; ",
        };
        let role = if i.admin { " (admin)" } else { "" };
        format!(
            "invited {}{role}: {mailed}works once, until {}\n{}",
            i.email,
            i.expires_at.to_rfc3339(),
            i.invitation_url
        )
    })
}

/// The pending invitations, the soonest to expire first.
async fn invitations(out: JsonFlag, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let list = admin::invitations::pending(&pool, &SystemClock)
        .await
        .map_err(Failure::refused)?;
    print(out.json, &list, |list| {
        let lines: Vec<String> = list
            .iter()
            .map(|i| {
                let role = if i.is_admin { " (admin)" } else { "" };
                format!(
                    "{}  {}{role}  until {}  by {}",
                    i.id,
                    i.email,
                    i.expires_at.to_rfc3339(),
                    i.created_by
                )
            })
            .collect();
        match lines.is_empty() {
            true => "no pending invitations".to_owned(),
            false => lines.join("\n"),
        }
    })
}

/// Withdraws a pending invitation, audited.
async fn uninvite(args: InvitationRef, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let email = admin::invitations::withdraw(&pool, &SystemClock, args.id)
        .await
        .map_err(Failure::refused)?;
    let details = serde_json::json!({ "id": args.id, "email": email });
    audit(&pool, "withdrew an invitation", details).await;
    println!("withdrew the invitation of {email}: its link no longer works");
    Ok(())
}

async fn create(args: UserCreate, config: &Config) -> Result<(), Failure> {
    let password = read_password(args.password_stdin)?;
    let pool = connect_migrated(config).await?;
    let input = NewUserInput {
        username: args.username,
        password,
        is_admin: args.admin,
        claims: args.claims.apply_to(StandardClaims::default()),
    };
    let user = admin::users::create(&pool, &SystemClock, input)
        .await
        .map_err(Failure::refused)?;
    audit(
        &pool,
        "created a user",
        serde_json::json!({ "sub": user.sub, "username": user.username, "admin": user.admin }),
    )
    .await;
    print(args.out.json, &user, |u| {
        let role = if u.admin { " (admin)" } else { "" };
        format!("created user {}{role} with sub {}", u.username, u.sub)
    })
}

/// Only what is given changes; each change is its own audit event, as on
/// the admin page (`user: claims`, `user: password`, `user: admin`).
async fn update(args: UserUpdate, config: &Config) -> Result<(), Failure> {
    let password = args.password_stdin.then(|| read_password(true)).transpose()?;
    let pool = connect_migrated(config).await?;
    let sub = admin::users::resolve(&pool, &args.user)
        .await
        .map_err(Failure::refused)?;
    let current = admin::users::view(&pool, &SystemClock, sub)
        .await
        .map_err(Failure::refused)?;
    let claims = args.claims.apply_to(current.claims.clone());
    if claims != current.claims {
        let (before, after) = admin::users::update_claims(&pool, &SystemClock, sub, claims)
            .await
            .map_err(Failure::refused)?;
        audit(
            &pool,
            "user: claims",
            serde_json::json!({ "sub": sub, "before": before, "after": after }),
        )
        .await;
    }
    if let Some(admin) = args.admin.filter(|a| *a != current.admin) {
        admin::users::set_admin(&pool, sub, admin)
            .await
            .map_err(Failure::refused)?;
        let action = if admin { "user: admin" } else { "user: unadmin" };
        audit(&pool, action, serde_json::json!({ "sub": sub })).await;
    }
    if let Some(password) = password {
        admin::users::reset_password(&pool, &SystemClock, sub, password)
            .await
            .map_err(Failure::refused)?;
        audit(&pool, "user: password", serde_json::json!({ "sub": sub })).await;
    }
    show_after(&pool, sub, args.out.json, "updated").await
}

async fn set_disabled(a: UserRef, disabled: bool, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let sub = admin::users::resolve(&pool, &a.user).await.map_err(Failure::refused)?;
    admin::users::set_disabled(&pool, &SystemClock, sub, disabled)
        .await
        .map_err(Failure::refused)?;
    let action = if disabled { "user: disable" } else { "user: enable" };
    audit(&pool, action, serde_json::json!({ "sub": sub })).await;
    show_after(&pool, sub, a.out.json, if disabled { "disabled" } else { "enabled" }).await
}

/// The user as they are now: the whole view with `--json`, else one line.
async fn show_after(pool: &sqlx::PgPool, sub: Uuid, json: bool, done: &str) -> Result<(), Failure> {
    let user = admin::users::view(pool, &SystemClock, sub)
        .await
        .map_err(Failure::refused)?;
    print(json, &user, |u| format!("{done} user {} ({})", u.username, u.sub))
}
