//! Identifiers and secrets in the forms AWS uses, from the OS CSPRNG.

use rand::Rng;
use rand::rngs::OsRng;

/// The four-letter prefixes AWS gives IAM unique ids (see "IAM identifiers" in the IAM guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPrefix {
    Role,
    InstanceProfile,
    ManagedPolicy,
    User,
    Group,
    /// Long-term access key ids.
    AccessKey,
    /// Temporary (STS) access key ids.
    TemporaryAccessKey,
}

impl IdPrefix {
    pub fn as_str(self) -> &'static str {
        match self {
            IdPrefix::Role => "AROA",
            IdPrefix::InstanceProfile => "AIPA",
            IdPrefix::ManagedPolicy => "ANPA",
            IdPrefix::User => "AIDA",
            IdPrefix::Group => "AGPA",
            IdPrefix::AccessKey => "AKIA",
            IdPrefix::TemporaryAccessKey => "ASIA",
        }
    }
}

/// AWS unique ids use upper-case letters and the digits 2-7 (base32's alphabet).
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A 21-character IAM unique id such as `AROAIIZKPBKS2LEXAMPLE`.
pub fn aws_unique_id(prefix: IdPrefix) -> String {
    format!("{}{}", prefix.as_str(), random_from(BASE32, 17))
}

/// A 20-character access key id such as `AKIAIOSFODNN7EXAMPLE`.
pub fn access_key_id(prefix: IdPrefix) -> String {
    format!("{}{}", prefix.as_str(), random_from(BASE32, 16))
}

/// An access key id that carries `account_id` as AWS's do (so STS GetAccessKeyInfo can tell
/// the account from the id alone): after the prefix, 16 base32 characters = 80 bits, whose first
/// 48 are a zero bit, the 40-bit account number and 7 random bits; the other 32 bits are
/// random. An account id that is not a 12-digit number gives a wholly random id.
pub fn access_key_id_for(prefix: IdPrefix, account_id: &str) -> String {
    let Some(account) = account_id
        .parse::<u64>()
        .ok()
        .filter(|a| account_id.len() == 12 && *a < (1 << 40))
    else {
        return access_key_id(prefix);
    };
    let mut rng = OsRng;
    let head = (account << 7) | u64::from(rng.gen_range(0u8..128));
    let bits: u128 = (u128::from(head) << 32) | u128::from(rng.r#gen::<u32>());
    let body: String = (0..16)
        .rev()
        .map(|i| BASE32[((bits >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("{}{body}", prefix.as_str())
}

/// The account an access key id names (AWS's encoding, see [`access_key_id_for`]); None when
/// the id is not 20 characters of a prefix and base32.
pub fn account_of_access_key(id: &str) -> Option<String> {
    let body = id.get(4..)?;
    if id.len() != 20 {
        return None;
    }
    let mut bits: u128 = 0;
    for c in body.bytes() {
        let v = BASE32.iter().position(|b| *b == c)?;
        bits = (bits << 5) | v as u128;
    }
    let head = (bits >> 32) as u64;
    Some(format!("{:012}", (head & 0x7fff_ffff_ff80) >> 7))
}

/// A 40-character secret access key over AWS's alphabet.
pub fn secret_access_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    random_from(ALPHABET, 40)
}

/// An EC2 id: `prefix` + `-` + 17 lower-case hex digits (`i-0123456789abcdef0`).
pub fn ec2_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_from(b"0123456789abcdef", 17))
}

/// A request id in AWS's form (a random UUID, version 4). Not a secret: drawn from the thread's
/// generator (seeded from the OS), not a system call per request.
pub fn request_id() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    uuid_text(b)
}

/// A UUID whose first 48 bits are `millis` since the epoch, the rest random (a version 7
/// UUID's layout): ids made in time order sort in time order, and carry their time.
pub fn time_ordered_id(millis: i64) -> String {
    let mut b = [0u8; 16];
    // The thread's CSPRNG: an id is no secret, and this runs for every audited request (the
    // OS generator is a system call each time).
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b[6..]);
    b[..6].copy_from_slice(&u64::try_from(millis).unwrap_or(0).to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    uuid_text(b)
}

/// The milliseconds a [`time_ordered_id`] carries; None for any other id.
pub fn time_of_id(id: &str) -> Option<i64> {
    let b = id.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[14] != b'7' {
        return None;
    }
    // Read in place: the audit trail asks this several times for every event it stores.
    b[..8].iter().chain(&b[9..13]).try_fold(0i64, |n, &c| {
        Some(n << 4 | i64::from(char::from(c).to_digit(16)?))
    })
}

/// `b` as a UUID's text (its variant bits set), written in place (this runs twice for every
/// audited request).
fn uuid_text(mut b: [u8; 16]) -> String {
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut text = [b'-'; 36];
    for (bytes, hex_at) in [(0..4, 0), (4..6, 9), (6..8, 14), (8..10, 19), (10..16, 24)] {
        let end = hex_at + 2 * bytes.len();
        // The lengths match by construction: encoding cannot fail.
        let _ = hex::encode_to_slice(&b[bytes], &mut text[hex_at..end]);
    }
    // Hex digits and dashes: always UTF-8.
    std::str::from_utf8(&text)
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_written_in_their_canonical_form() {
        let b: [u8; 16] = std::array::from_fn(|i| u8::try_from(i * 17).unwrap_or(0));
        // Byte 8 (0x88) keeps its variant bits 10.
        assert_eq!(uuid_text(b), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(
            uuid_text([0xff; 16]),
            "ffffffff-ffff-ffff-bfff-ffffffffffff"
        );
    }

    #[test]
    fn time_ordered_ids_carry_their_time_and_sort_by_it() {
        let id = time_ordered_id(1_764_489_600_123);
        assert_eq!((id.len(), &id[14..15], &id[19..20] >= "8"), (36, "7", true));
        assert_eq!(time_of_id(&id), Some(1_764_489_600_123));
        assert!(id < time_ordered_id(1_764_489_600_124));
        assert_eq!(time_of_id(&request_id()), None);
        assert_eq!(time_of_id("not-an-id"), None);
        // The shape of one, but not hex where the time goes.
        assert_eq!(time_of_id("0000000g-0000-7000-8000-000000000000"), None);
        assert_eq!(time_of_id("+0000000-0000-7000-8000-000000000000"), None);
    }

    #[test]
    fn access_key_ids_carry_their_account_as_aws_encodes_it() {
        // AWS's documented example: ASIAY34FZKBOKMUTVV7A belongs to 609629065308.
        assert_eq!(
            account_of_access_key("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        for account in [
            "123456789012",
            "000000000000",
            "999999999999",
            "609629065308",
        ] {
            for prefix in [IdPrefix::AccessKey, IdPrefix::TemporaryAccessKey] {
                let id = access_key_id_for(prefix, account);
                assert_eq!(id.len(), 20, "{id}");
                assert!(id.starts_with(prefix.as_str()));
                assert_eq!(account_of_access_key(&id).as_deref(), Some(account), "{id}");
            }
        }
        assert_eq!(account_of_access_key("AKIA-not-base32-xxxx"), None);
        assert_eq!(account_of_access_key("AKIASHORT"), None);
    }

    #[test]
    fn forms() {
        let id = aws_unique_id(IdPrefix::Role);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(id[4..].bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(access_key_id(IdPrefix::AccessKey).len(), 20);
        assert_eq!(secret_access_key().len(), 40);
        let i = ec2_id("i");
        assert_eq!(i.len(), 19);
        assert!(
            i[2..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(ec2_id("i"), ec2_id("i"));
    }
}
