//! Which hosts a URL may name. One rule for every URL the platform stores or calls: webhook
//! targets (whose addresses the dispatcher also vets after resolving them, see
//! `crate::webhooks`) and attachment URLs (citizens' and staff's files, shown to others as
//! links).
//!
//! Addresses are judged by [`classify`]: loopback, private (RFC 1918, ULA, CGNAT), link-local,
//! cloud metadata and every other special-purpose range are not public. IPv4 inside IPv6
//! (mapped, compatible, NAT64) is judged as the IPv4 address it carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a target address is refused, or `None` for a public unicast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Cloud metadata services (169.254.169.254, fd00:ec2::254): refused even when private
    /// targets are allowed.
    Metadata,
    Loopback,
    /// RFC 1918, ULA (fc00::/7), CGNAT (100.64.0.0/10).
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, benchmarking, reserved and other
    /// special-purpose ranges: never a webhook receiver.
    Special,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Metadata => "a cloud metadata address",
            Refusal::Loopback => "a loopback address",
            Refusal::Private => "a private network address",
            Refusal::LinkLocal => "a link-local address",
            Refusal::Special => "a special-purpose (non-public) address",
        }
    }

    /// Allowed by `LIUYAN_WEBHOOK_ALLOW_PRIVATE_TARGETS` (metadata addresses never are).
    pub fn allowed_when_private_targets_are(self) -> bool {
        !matches!(self, Refusal::Metadata)
    }
}

/// Classify an address for the SSRF guard. IPv4-mapped and -compatible IPv6 addresses are
/// judged as the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return Some(Refusal::Metadata);
    }
    if a == 127 {
        return Some(Refusal::Loopback);
    }
    if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        return Some(Refusal::Private);
    }
    if a == 100 && (64..=127).contains(&b) {
        return Some(Refusal::Private);
    }
    if a == 169 && b == 254 {
        return Some(Refusal::LinkLocal);
    }
    let special = a == 0                                   // "this network", unspecified
        || a >= 224                                        // multicast, reserved, broadcast
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // TEST-NET-1
        || (a == 198 && b == 51 && c == 100)               // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                // TEST-NET-3
        || (a == 198 && (b == 18 || b == 19))              // benchmarking
        || (a == 192 && b == 88 && c == 99); // 6to4 relay anycast
    special.then_some(Refusal::Special)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(Refusal::Metadata);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some(Refusal::Special);
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some(Refusal::Private);
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some(Refusal::LinkLocal);
    }
    // IPv4-compatible (deprecated ::a.b.c.d) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return classify_v4(v4).or(Some(Refusal::Special).filter(|_| s[0] == 0));
    }
    let special = s[0] == 0x2001 && s[1] == 0x0db8          // documentation
        || s[0] == 0x3fff && s[1] < 0x1000                   // documentation (RFC 9637)
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0]            // discard-only
        || s[0] == 0x2001 && s[1] < 0x0200                   // IETF protocol assignments
        || s[0] == 0x2002                                    // 6to4
        || s[0] & 0xe000 != 0x2000; // outside global unicast 2000::/3
    special.then_some(Refusal::Special)
}

/// Whether a refused address may still be used: private targets allowed by configuration.
pub fn permitted(ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    match classify(ip) {
        None => Ok(()),
        Some(r) if allow_private && r.allowed_when_private_targets_are() => Ok(()),
        Some(r) => Err(r),
    }
}

/// URLs carry no credentials (`https://user:pw@host/…`): they would be stored, shown and
/// logged, and a `user@` before a host is a classic way to make a link look like another one.
pub fn no_credentials(url: &url::Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not accepted".into());
    }
    Ok(())
}

/// Host names that stand for this machine or a local network, never for a public file server:
/// `localhost` and `*.localhost` (RFC 6761), `localhost.localdomain`, `ip6-localhost`,
/// `ip6-loopback`, mDNS `*.local`, the private-use `*.internal`, `*.home.arpa` (RFC 8375), the
/// other `*.arpa` names, and single-label names (completed by the resolver's search domains,
/// so inside the local network).
fn local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    !host.contains('.')
        || host == "localhost.localdomain"
        || [".localhost", ".local", ".localdomain", ".internal", ".arpa"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

/// Why an attachment URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentUrlProblem {
    /// Not an `https://` URL, or not a valid one (spaces, control characters, brackets).
    Form(String),
    /// `user:password@` in the URL.
    Credentials,
    /// The host is an address or a name that is not public.
    Host(String),
}

impl AttachmentUrlProblem {
    /// A short code for the field error.
    pub fn code(&self) -> &'static str {
        match self {
            AttachmentUrlProblem::Form(_) => "format",
            AttachmentUrlProblem::Credentials => "credentials",
            AttachmentUrlProblem::Host(_) => "host",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AttachmentUrlProblem::Form(m) => m.clone(),
            AttachmentUrlProblem::Credentials => {
                "must not carry credentials (user:password@)".to_owned()
            }
            AttachmentUrlProblem::Host(m) => m.clone(),
        }
    }
}

/// The one rule for attachment URLs, at every entry point (messages, resubmissions, replies,
/// Open311 `media_url`): `https://`, parseable (by the `url` crate, as browsers parse it), no
/// whitespace, control characters or square brackets (IPv6 literals are not used), no
/// credentials, and a public host: no IP address that [`classify`] refuses (whatever the range:
/// there is no "allow private" switch, as a file shown to the public never lives on a private
/// address) and no local name ([`local_name`]).
///
/// Host names are not resolved: the platform never fetches attachments, it shows them as links,
/// and a DNS answer given now says nothing about the one a reader's browser gets later.
pub fn attachment_url(url: &str) -> Result<url::Url, AttachmentUrlProblem> {
    let form = || {
        AttachmentUrlProblem::Form(
            "must be an https:// URL (without spaces or square brackets)".into(),
        )
    };
    let rest = url.strip_prefix("https://").ok_or_else(form)?;
    if rest.is_empty()
        || rest.starts_with('/')
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '[' || c == ']')
    {
        return Err(form());
    }
    let parsed = url::Url::parse(url).map_err(|_| form())?;
    if parsed.scheme() != "https" {
        return Err(form());
    }
    if no_credentials(&parsed).is_err() {
        return Err(AttachmentUrlProblem::Credentials);
    }
    let refused = |what: String| {
        AttachmentUrlProblem::Host(format!("must point at a public host, not {what}"))
    };
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => match classify(IpAddr::V4(ip)) {
            Some(r) => Err(refused(format!("{ip}, {}", r.describe()))),
            None => Ok(parsed),
        },
        Some(url::Host::Ipv6(ip)) => match classify(IpAddr::V6(ip)) {
            Some(r) => Err(refused(format!("{ip}, {}", r.describe()))),
            None => Ok(parsed),
        },
        Some(url::Host::Domain(d)) if local_name(d) => Err(refused(format!("`{d}`, a local name"))),
        Some(url::Host::Domain(_)) => Ok(parsed),
        None => Err(form()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<Refusal> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn addresses_are_classified() {
        use Refusal::*;
        for (ip, want) in [
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("2606:4700:4700::1111", None),
            ("127.0.0.1", Some(Loopback)),
            ("127.8.9.1", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("169.254.1.1", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("169.254.169.254", Some(Metadata)),
            ("fd00:ec2::254", Some(Metadata)),
            ("0.0.0.0", Some(Special)),
            ("::", Some(Special)),
            ("255.255.255.255", Some(Special)),
            ("224.0.0.1", Some(Special)),
            ("ff02::1", Some(Special)),
            ("192.0.2.10", Some(Special)),
            ("198.51.100.1", Some(Special)),
            ("203.0.113.5", Some(Special)),
            ("2001:db8::1", Some(Special)),
            // IPv4 inside IPv6.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(Metadata)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a00:1", Some(Private)),
        ] {
            assert_eq!(refused(ip), want, "{ip}");
        }
        // Not bordering ranges.
        assert_eq!(refused("172.32.0.1"), None);
        assert_eq!(refused("100.128.0.1"), None);
        assert_eq!(refused("11.0.0.1"), None);
    }

    #[test]
    fn private_targets_may_be_allowed_but_metadata_never() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let md: IpAddr = "169.254.169.254".parse().unwrap();
        assert_eq!(permitted(lo, false), Err(Refusal::Loopback));
        assert_eq!(permitted(lo, true), Ok(()));
        assert_eq!(permitted(md, true), Err(Refusal::Metadata));
        assert_eq!(permitted("8.8.8.8".parse().unwrap(), false), Ok(()));
    }

    #[test]
    fn attachment_urls_name_public_hosts_without_credentials() {
        for ok in [
            "https://files.example.gov.cn/2026/11/light.jpg",
            "https://files.example.gov.cn/u/x@2x.png",
            "https://8.8.8.8/a.jpg",
            "https://cdn.example.org:8443/a.pdf?sig=a@b#p",
        ] {
            assert!(attachment_url(ok).is_ok(), "{ok}");
        }
        let code = |u: &str| attachment_url(u).err().map(|e| e.code());
        for (url, want) in [
            ("https://127.0.0.1/a.jpg", "host"),
            ("https://127.1/a.jpg", "host"),
            ("https://2130706433/a.jpg", "host"),
            ("https://0x7f.0.0.1/a.jpg", "host"),
            ("https://127.0.0.%31/a.jpg", "host"),
            ("https://１２７.０.０.１/a.jpg", "host"),
            ("https://10.0.0.5/a.jpg", "host"),
            ("https://192.168.1.1/a.jpg", "host"),
            ("https://169.254.169.254/latest/meta-data", "host"),
            ("https://0.0.0.0/a.jpg", "host"),
            ("https://100.64.0.1/a.jpg", "host"),
            ("https://localhost/a.jpg", "host"),
            ("https://LOCALHOST./a.jpg", "host"),
            ("https://files.localhost/a.jpg", "host"),
            ("https://printer.local/a.jpg", "host"),
            ("https://metadata.google.internal/a", "host"),
            ("https://intranet/a.jpg", "host"),
            ("https://1.0.0.127.in-addr.arpa/a.jpg", "host"),
            ("https://user:pw@files.example.gov.cn/a.jpg", "credentials"),
            ("https://user@files.example.gov.cn/a.jpg", "credentials"),
            ("https://:pw@files.example.gov.cn/a.jpg", "credentials"),
            ("http://files.example.gov.cn/a.jpg", "format"),
            ("https://[::1]/a.jpg", "format"),
            ("https:///a.jpg", "format"),
            ("https://files example/a.jpg", "format"),
        ] {
            assert_eq!(code(url), Some(want), "{url}");
        }
    }
}
