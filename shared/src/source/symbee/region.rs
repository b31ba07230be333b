//! The ten regions Symbee Connect runs in and the API URL of each.

use std::fmt;

/// A Symbee Connect global region. `us-east-1` has no host prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbeeRegion {
    UsEast1,
    UsWest2,
    CaCentral1,
    EuWest2,
    EuCentral1,
    ApSoutheast1,
    ApSoutheast2,
    ApNortheast1,
    ApNortheast2,
    AfSouth1,
}

/// The path of the queue statistics operation under every host.
pub const RETRIEVE_QUEUE_INFO_PATH: &str =
    "/symbee-connect-stats-service/svc/rs/RealtimeStatsService/retrieveQueueInfo";

impl SymbeeRegion {
    pub const ALL: [SymbeeRegion; 10] = [
        Self::UsEast1,
        Self::UsWest2,
        Self::CaCentral1,
        Self::EuWest2,
        Self::EuCentral1,
        Self::ApSoutheast1,
        Self::ApSoutheast2,
        Self::ApNortheast1,
        Self::ApNortheast2,
        Self::AfSouth1,
    ];

    pub fn aws_region(self) -> &'static str {
        match self {
            Self::UsEast1 => "us-east-1",
            Self::UsWest2 => "us-west-2",
            Self::CaCentral1 => "ca-central-1",
            Self::EuWest2 => "eu-west-2",
            Self::EuCentral1 => "eu-central-1",
            Self::ApSoutheast1 => "ap-southeast-1",
            Self::ApSoutheast2 => "ap-southeast-2",
            Self::ApNortheast1 => "ap-northeast-1",
            Self::ApNortheast2 => "ap-northeast-2",
            Self::AfSouth1 => "af-south-1",
        }
    }

    /// Empty text means us-east-1, as in Symbee's documentation.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::UsEast1);
        }
        Self::ALL
            .into_iter()
            .find(|r| r.aws_region() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|r| r.aws_region()).collect();
                format!(
                    "must be empty (us-east-1) or one of {}, not {text:?}",
                    known.join(", ")
                )
            })
    }

    /// `scheme://host:port` of this region's API.
    pub fn base_url(self) -> String {
        match self {
            Self::UsEast1 => "https://symbeeconnect.com:9443".to_owned(),
            other => format!("https://{}.symbeeconnect.com:9443", other.aws_region()),
        }
    }

    /// The full operation URL, honouring an override of the host.
    pub fn endpoint(self, base_override: Option<&str>) -> String {
        let base = base_override.map_or_else(|| self.base_url(), str::to_owned);
        format!("{base}{RETRIEVE_QUEUE_INFO_PATH}")
    }
}

impl fmt::Display for SymbeeRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aws_region())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_has_its_documented_url() {
        let expected = [
            "https://symbeeconnect.com:9443",
            "https://us-west-2.symbeeconnect.com:9443",
            "https://ca-central-1.symbeeconnect.com:9443",
            "https://eu-west-2.symbeeconnect.com:9443",
            "https://eu-central-1.symbeeconnect.com:9443",
            "https://ap-southeast-1.symbeeconnect.com:9443",
            "https://ap-southeast-2.symbeeconnect.com:9443",
            "https://ap-northeast-1.symbeeconnect.com:9443",
            "https://ap-northeast-2.symbeeconnect.com:9443",
            "https://af-south-1.symbeeconnect.com:9443",
        ];
        for (region, base) in SymbeeRegion::ALL.into_iter().zip(expected) {
            assert_eq!(
                region.endpoint(None),
                format!(
                    "{base}/symbee-connect-stats-service/svc/rs/RealtimeStatsService/retrieveQueueInfo"
                )
            );
            assert_eq!(SymbeeRegion::parse(region.aws_region()), Ok(region));
        }
        assert_eq!(SymbeeRegion::parse(""), Ok(SymbeeRegion::UsEast1));
        assert!(SymbeeRegion::parse("us-east-2").is_err());
    }

    #[test]
    fn an_override_replaces_only_the_host() {
        assert_eq!(
            SymbeeRegion::EuWest2.endpoint(Some("http://127.0.0.1:4000")),
            format!("http://127.0.0.1:4000{RETRIEVE_QUEUE_INFO_PATH}")
        );
    }
}
