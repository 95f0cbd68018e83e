//! English and Korean. The language comes from the `lang` query parameter (which also sets the
//! `rc_lang` cookie), else that cookie, else `Accept-Language`. AWS's own error wording is never
//! translated: errors are shown as the API returns them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "ko" => Some(Lang::Ko),
            _ => None,
        }
    }

    /// The first of `en`/`ko` in an `Accept-Language` header, by its quality (English otherwise).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best = (Lang::En, -1.0f32);
        for part in header.split(',') {
            let mut fields = part.trim().split(';');
            let tag = fields
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = fields
                .find_map(|f| f.trim().strip_prefix("q=")?.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ko") => Lang::Ko,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    /// The other language (the switch link on every page).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ko,
            Lang::Ko => Lang::En,
        }
    }

    /// The language's own name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ko => "한국어",
        }
    }

    /// `en` in this language (the English text is the key).
    pub fn t(self, en: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Ko => korean(en).unwrap_or(en),
        }
    }
}

fn korean(en: &str) -> Option<&'static str> {
    Some(match en {
        "rolecall console" => "rolecall 콘솔",
        "Sign in" => "로그인",
        "Sign out" => "로그아웃",
        "Signed in as" => "로그인 사용자",
        "Access key ID" => "액세스 키 ID",
        "Secret access key" => "보안 액세스 키",
        "Session token (for temporary credentials)" => "세션 토큰(임시 자격 증명용)",
        "Sign in with the access key pair of the account root, an IAM user or a role session." => {
            "계정 루트, IAM 사용자 또는 역할 세션의 액세스 키 페어로 로그인합니다."
        }
        "The access key pair is not valid." => "액세스 키 페어가 올바르지 않습니다.",
        "Your session has ended. Sign in again." => "세션이 종료되었습니다. 다시 로그인하세요.",
        "Main navigation" => "기본 탐색",
        "Language" => "언어",
        "Roles" => "역할",
        "Role" => "역할",
        "Instances" => "인스턴스",
        "Instance" => "인스턴스",
        "Policies" => "정책",
        "Instance profiles" => "인스턴스 프로파일",
        "Instance profile" => "인스턴스 프로파일",
        "Users" => "사용자",
        "Groups" => "그룹",
        "Policy simulator" => "정책 시뮬레이터",
        "Search" => "검색",
        "Search roles by name" => "이름으로 역할 검색",
        "Role name" => "역할 이름",
        "Description" => "설명",
        "Created" => "생성 시간",
        "Path" => "경로",
        "Next page" => "다음 페이지",
        "First page" => "첫 페이지",
        "Search further" => "계속 검색",
        "No roles." => "역할이 없습니다.",
        "No instances." => "인스턴스가 없습니다.",
        "None" => "없음",
        "Create role" => "역할 생성",
        "Trusted entity type" => "신뢰할 수 있는 엔터티 유형",
        "AWS service: EC2" => "AWS 서비스: EC2",
        "Allows EC2 instances to call AWS services on your behalf." => {
            "EC2 인스턴스가 사용자를 대신하여 AWS 서비스를 호출하도록 허용합니다."
        }
        "Custom trust policy" => "사용자 지정 신뢰 정책",
        "Trust policy" => "신뢰 정책",
        "Permissions policy" => "권한 정책",
        "Attach a managed policy" => "관리형 정책 연결",
        "Inline policy (JSON)" => "인라인 정책(JSON)",
        "Inline policy name" => "인라인 정책 이름",
        "Inline policies" => "인라인 정책",
        "Attached policies" => "연결된 정책",
        "Instances using this role" => "이 역할을 사용하는 인스턴스",
        "Role, instance profiles and instances" => "역할, 인스턴스 프로파일 및 인스턴스",
        "Summary" => "요약",
        "Launch instance" => "인스턴스 시작",
        "Launch" => "시작",
        "Instance ID" => "인스턴스 ID",
        "Instance state" => "인스턴스 상태",
        "Instance type" => "인스턴스 유형",
        "Private IP address" => "프라이빗 IP 주소",
        "IAM role" => "IAM 역할",
        "AMI ID" => "AMI ID",
        "IAM instance profile" => "IAM 인스턴스 프로파일",
        "Launch time" => "시작 시간",
        "Metadata options" => "메타데이터 옵션",
        "IAM instance profile associations" => "IAM 인스턴스 프로파일 연결",
        "Association ID" => "연결 ID",
        "State" => "상태",
        "Time" => "시간",
        "Actions" => "작업",
        "Modify IAM role" => "IAM 역할 수정",
        "Update IAM role" => "IAM 역할 업데이트",
        "No IAM role" => "IAM 역할 없음",
        "Choose an IAM role (instance profile) to attach to your instance, or none to remove it." => {
            "인스턴스에 연결할 IAM 역할(인스턴스 프로파일)을 선택하거나, 제거하려면 없음을 선택하세요."
        }
        "Validation" => "검증",
        "The policy is valid." => "정책이 유효합니다.",
        "line" => "줄",
        "column" => "열",
        "Error" => "오류",
        "Not found." => "찾을 수 없습니다.",
        "Forbidden: the request has no valid CSRF token." => {
            "금지됨: 요청에 유효한 CSRF 토큰이 없습니다."
        }
        "Revoke active sessions" => "활성 세션 취소",
        "Denies every action to credentials of this role issued before now (instance credentials included), with the inline policy AWSRevokeOlderSessions and aws:TokenIssueTime, as AWS's console does. New credentials are not affected." => {
            "지금 이전에 발급된 이 역할의 자격 증명(인스턴스 자격 증명 포함)에 대한 모든 작업을 AWS 콘솔과 같이 인라인 정책 AWSRevokeOlderSessions와 aws:TokenIssueTime으로 거부합니다. 새 자격 증명에는 영향이 없습니다."
        }
        "I acknowledge that I am revoking all active sessions for this role." => {
            "이 역할의 모든 활성 세션을 취소함을 확인합니다."
        }
        "Modify instance metadata options" => "인스턴스 메타데이터 옵션 수정",
        "Instance metadata service" => "인스턴스 메타데이터 서비스",
        "IMDSv2 (HttpTokens)" => "IMDSv2(HttpTokens)",
        "Metadata response hop limit" => "메타데이터 응답 홉 제한",
        "Allow tags in instance metadata" => "인스턴스 메타데이터의 태그 허용",
        "Save" => "저장",
        "Add role" => "역할 추가",
        "Remove role" => "역할 제거",
        "Create instance profile" => "인스턴스 프로파일 생성",
        "Instance profile name" => "인스턴스 프로파일 이름",
        "No instance profiles." => "인스턴스 프로파일이 없습니다.",
        "User name" => "사용자 이름",
        "Create user" => "사용자 생성",
        "No users." => "사용자가 없습니다.",
        "Access keys" => "액세스 키",
        "Create access key" => "액세스 키 생성",
        "Status" => "상태",
        "This is the only time the secret access key can be viewed or downloaded. You cannot recover it later." => {
            "보안 액세스 키를 보거나 다운로드할 수 있는 유일한 기회입니다. 나중에 복구할 수 없습니다."
        }
        "Make inactive" => "비활성화",
        "Make active" => "활성화",
        "Delete" => "삭제",
        "Create policy" => "정책 생성",
        "Policy name" => "정책 이름",
        "Policy document" => "정책 문서",
        "Default version" => "기본 버전",
        "Attachments" => "연결",
        "Policy versions" => "정책 버전",
        "Version" => "버전",
        "Set as default" => "기본값으로 설정",
        "Create a new version" => "새 버전 생성",
        "Principal (user, group or role ARN)" => "보안 주체(사용자, 그룹 또는 역할 ARN)",
        // Simulator, instance credential and tags, trust policy editing (one block).
        "Policies to simulate" => "시뮬레이션할 정책",
        "The policies of a principal" => "보안 주체의 정책",
        "Custom policies" => "사용자 지정 정책",
        "Another empty document appears after each run." => {
            "실행할 때마다 빈 문서가 하나 더 표시됩니다."
        }
        "Context keys" => "컨텍스트 키",
        "Context key" => "컨텍스트 키",
        "Values of a list type are separated by commas." => "목록 유형의 값은 쉼표로 구분합니다.",
        "Type" => "유형",
        "Values" => "값",
        "Missing context values" => "누락된 컨텍스트 값",
        "Results" => "결과",
        "Instance metadata credential" => "인스턴스 메타데이터 자격 증명",
        "This server does not serve instance metadata (IMDS)." => {
            "이 서버는 인스턴스 메타데이터(IMDS)를 제공하지 않습니다."
        }
        "No IAM role: IMDS serves this instance no credentials." => {
            "IAM 역할 없음: IMDS가 이 인스턴스에 자격 증명을 제공하지 않습니다."
        }
        "Not yet minted: the instance has not asked IMDS for credentials. They are minted at its first request." => {
            "아직 발급되지 않음: 인스턴스가 IMDS에 자격 증명을 요청하지 않았습니다. 첫 요청 시 발급됩니다."
        }
        "Minted" => "발급 시간",
        "Expires" => "만료 시간",
        "Remaining lifetime" => "남은 유효 기간",
        "min left" => "분 남음",
        "min" => "분",
        "Tags" => "태그",
        "No tags." => "태그가 없습니다.",
        "Key" => "키",
        "Value" => "값",
        "Add tag" => "태그 추가",
        "Remove tag" => "태그 제거",
        "Edit trust policy" => "신뢰 정책 편집",
        "Update policy" => "정책 업데이트",
        "Actions (one per line)" => "작업(한 줄에 하나)",
        "Resources (one per line; empty: *)" => "리소스(한 줄에 하나, 비우면 *)",
        "Run simulation" => "시뮬레이션 실행",
        "Action" => "작업",
        "Resource" => "리소스",
        "Decision" => "결정",
        "Matched statements" => "일치하는 문",
        // Groups, user permissions and password sign-in (#17, h17a).
        "IAM user" => "IAM 사용자",
        "Account ID (optional)" => "계정 ID(선택 사항)",
        "IAM user name" => "IAM 사용자 이름",
        "Password" => "암호",
        "Your authentication information is incorrect. Please try again." => {
            "인증 정보가 올바르지 않습니다. 다시 시도하세요."
        }
        "Too many sign-in attempts. Try again later." => {
            "로그인 시도 횟수가 너무 많습니다. 나중에 다시 시도하세요."
        }
        "Your password must be reset before you can sign in. Ask your administrator to set a new password." => {
            "로그인하기 전에 암호를 재설정해야 합니다. 관리자에게 새 암호 설정을 요청하세요."
        }
        "Edit" => "편집",
        "Add or replace an inline policy" => "인라인 정책 추가 또는 교체",
        "Attach" => "연결",
        "Detach" => "분리",
        "Back" => "뒤로",
        "Group name" => "그룹 이름",
        "Create group" => "그룹 생성",
        "Search groups by name" => "이름으로 그룹 검색",
        "Search users by name" => "이름으로 사용자 검색",
        "No groups." => "그룹이 없습니다.",
        "Users in this group" => "이 그룹의 사용자",
        "Only the first 100 members are shown." => "처음 100명의 사용자만 표시됩니다.",
        "Add user" => "사용자 추가",
        "Add user to group" => "그룹에 사용자 추가",
        "Add" => "추가",
        "Remove" => "제거",
        "Delete group" => "그룹 삭제",
        "A group can be deleted once it has no users and no policies." => {
            "사용자와 정책이 없는 그룹만 삭제할 수 있습니다."
        }
        // End of h17a's block.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_the_highest_quality_known_language() {
        assert_eq!(
            Lang::from_accept_language("ko-KR,ko;q=0.9,en;q=0.8"),
            Lang::Ko
        );
        assert_eq!(Lang::from_accept_language("en-US,ko;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr, ko;q=0.3"), Lang::Ko);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn korean_has_its_words_and_falls_back_to_english() {
        assert_eq!(Lang::Ko.t("Roles"), "역할");
        assert_eq!(Lang::En.t("Roles"), "Roles");
        assert_eq!(Lang::Ko.t("no such text"), "no such text");
    }
}
