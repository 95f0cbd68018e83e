"""The web console (/console/) in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by Selenium, walking the AWS guide's console steps against a real
`rolecall serve`; boto3 confirms each step's outcome through the API. The tests save screenshots
of the main pages under docs/console/ (committed; the README shows two)."""

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from support import REPO, allow, bound_get, client_for, doc, eventually, launch, own_server, role_with_profile, unique

SHOTS = REPO / "docs" / "console"
S3_READ = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}, indent=2)


@pytest.fixture(scope="module")
def console_server(tmp_path_factory, databases):
    """A server of its own, so the screenshots show only this walk's roles and instances; with
    IMDS (instances on 127.89.x.y, so the test can ask for their credentials as them)."""
    yield from own_server(tmp_path_factory, "console", imds=True, extra_args=["--instance-cidr", "127.89.0.0/16"], database_url=databases())


@pytest.fixture(scope="module")
def root_keys(console_server):
    env = console_server.env()
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    driver_bin = shutil.which("chromedriver")
    assert chromium and driver_bin, "chromium and chromium-driver are required (scripts/test.sh installs them)"
    opts = Options()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    d = webdriver.Chrome(options=opts, service=Service(executable_path=driver_bin))
    d.implicitly_wait(0)
    yield d
    d.quit()


class Console:
    def __init__(self, driver, server):
        self.d = driver
        self.base = server.endpoint + "/console"

    def go(self, path):
        self.d.get(self.base + path)

    def wait(self, cond, timeout=20):
        # A check racing the page's navigation is retried, not failed.
        return WebDriverWait(self.d, timeout, ignored_exceptions=(WebDriverException,)).until(cond)

    def h1(self):
        return self.d.find_element(By.TAG_NAME, "h1").text

    def fill(self, field_id, value):
        el = self.d.find_element(By.ID, field_id)
        el.clear()
        el.send_keys(value)

    def set_value(self, field_id, value):
        """Sets a textarea without typing (JSON editors would auto-indent nothing, but typing is slow)."""
        el = self.d.find_element(By.ID, field_id)
        self.d.execute_script("arguments[0].value = arguments[1];", el, value)

    def submit(self, form_css="main form.stack"):
        self.d.find_element(By.CSS_SELECTOR, form_css + " button[type=submit]").click()

    def sign_in(self, key, secret):
        self.d.delete_all_cookies()
        self.go("/signin")
        self.fill("access_key_id", key)
        self.fill("secret_access_key", secret)
        self.submit("#key-signin")
        self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "header .who")))

    def sign_in_with_password(self, user, password, account=""):
        self.d.delete_all_cookies()
        self.go("/signin")
        self.fill("account", account)
        self.fill("user_name", user)
        self.fill("password", password)
        self.submit("#password-signin")

    def alert(self):
        return self.d.find_element(By.CSS_SELECTOR, "main .alert").text

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))

    def cookie(self, name):
        c = self.d.get_cookie(name)
        return c and c["value"]


@pytest.fixture(scope="module")
def console(browser, console_server):
    return Console(browser, console_server)


def test_walk_the_guides_console_steps(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    ec2 = client_for(console_server, "ec2")
    c = console
    c.go("/signin")
    assert c.h1() == "Sign in"
    c.shot("signin")
    c.sign_in(*root_keys)
    assert c.h1() == "Roles"
    account = console_server.account()
    assert f"arn:aws:iam::{account}:root" in c.d.find_element(By.CSS_SELECTOR, "header .who").text

    # IAM console: Create role → AWS service → EC2, with a permissions policy (inline JSON).
    role = unique("S3ReadForEc2")
    c.go("/roles/new")
    assert c.d.find_element(By.ID, "trusted_ec2").is_selected()
    c.fill("role_name", role)
    c.fill("description", "Allows EC2 instances to read S3")
    c.set_value("inline_policy", S3_READ)
    c.fill("inline_name", "s3-read")
    c.shot("create-role")
    c.submit()
    c.wait(EC.title_contains(role))
    assert c.h1() == role
    page = c.d.find_element(By.TAG_NAME, "main").text
    assert "ec2.amazonaws.com" in page and "s3-read" in page and "s3:GetObject" in page
    # As AWS's console does: an instance profile of the same name, holding the role.
    profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [role]
    assert iam.get_role_policy(RoleName=role, PolicyName="s3-read")["PolicyDocument"]["Statement"][0]["Action"] == ["s3:GetObject", "s3:ListBucket"]

    # The roles list finds it by search.
    c.go("/roles?q=" + urllib.parse.quote(role[:-3].lower()))
    assert role in c.d.find_element(By.ID, "roles").text

    # EC2 console: Launch instance with the instance profile.
    c.go("/instances/launch")
    Select(c.d.find_element(By.ID, "profile")).select_by_value(role)
    c.submit()
    c.wait(EC.presence_of_element_located((By.ID, "iam-role")))
    instance_id = c.h1()
    assert instance_id.startswith("i-")
    assert c.d.find_element(By.ID, "iam-role").text == role
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["IamInstanceProfile"]["Arn"] == profile["Arn"]
    assert "HttpTokens" in c.d.find_element(By.ID, "metadata").find_element(By.XPATH, "..").text
    c.shot("instance")

    # The instances list: state, private IP and IAM role columns.
    c.go("/instances")
    row = c.d.find_element(By.XPATH, f"//table[@id='instances']//tr[td/a[text()='{instance_id}']]")
    assert role in row.text and described["PrivateIpAddress"] in row.text and "running" in row.text
    c.shot("instances")

    # The role page shows the instance using it, in the diagram too.
    c.go("/roles/" + role)
    diagram = c.d.find_element(By.CSS_SELECTOR, "figure.diagram").text
    assert role in diagram and instance_id in diagram
    c.shot("role")

    # Actions → Modify IAM role: replace with another role's profile.
    other = unique("OtherRole")
    iam.create_role(RoleName=other, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.create_instance_profile(InstanceProfileName=other)
    iam.add_role_to_instance_profile(InstanceProfileName=other, RoleName=other)
    c.go(f"/instances/{instance_id}")
    c.d.find_element(By.CSS_SELECTOR, "details.menu summary").click()
    c.d.find_element(By.ID, "modify-role").click()
    c.wait(EC.presence_of_element_located((By.ID, "profile")))
    assert Select(c.d.find_element(By.ID, "profile")).first_selected_option.get_attribute("value") == role
    Select(c.d.find_element(By.ID, "profile")).select_by_value(other)
    c.shot("modify-role")
    c.submit()
    c.wait(EC.text_to_be_present_in_element((By.ID, "iam-role"), other))
    assocs = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    active = [a for a in assocs if a["State"] == "associated"]
    assert [a["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1] for a in active] == [other]

    # ... and remove it.
    c.go(f"/instances/{instance_id}/modify-role")
    Select(c.d.find_element(By.ID, "profile")).select_by_value("")
    c.submit()
    c.wait(EC.text_to_be_present_in_element((By.ID, "iam-role"), "–"))
    assocs = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    assert not [a for a in assocs if a["State"] in ("associated", "associating")]
    assert "IamInstanceProfile" not in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    # The instance page keeps the association history: the replaced and the removed one.
    c.go(f"/instances/{instance_id}")
    rows = c.d.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=associations] tbody tr")
    states = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]
    assert states.count("disassociated") == 2, states


def test_pages_render_in_korean_and_the_choice_sticks(console, root_keys):
    c = console
    c.sign_in(*root_keys)
    c.go("/roles")
    c.d.find_element(By.CSS_SELECTOR, "header .tools a[hreflang=ko]").click()
    c.wait(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "역할"))
    assert c.d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    assert "역할 생성" in c.d.find_element(By.TAG_NAME, "main").text
    # Remembered on the next pages (a cookie), until switched back.
    c.go("/instances")
    assert c.h1() == "인스턴스"
    assert "인스턴스 시작" in c.d.find_element(By.TAG_NAME, "main").text
    c.shot("instances-ko")
    c.go("/roles/new")
    assert c.h1() == "역할 생성"
    c.d.find_element(By.CSS_SELECTOR, "header .tools a[hreflang=en]").click()
    c.wait(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Create role"))


def test_a_limited_user_sees_aws_refusals_inline(console, console_server):
    iam = client_for(console_server, "iam")
    user = unique("viewer")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="roles-read", PolicyDocument=doc(allow(["iam:ListRoles", "iam:GetRole", "iam:ListPolicies"])))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    c = console
    c.sign_in(key["AccessKeyId"], key["SecretAccessKey"])
    assert c.h1() == "Roles"
    c.go("/roles/new")
    role = unique("denied")
    c.fill("role_name", role)
    c.submit()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    account = console_server.account()
    text = c.alert()
    assert "AccessDenied" in text
    assert f"User: arn:aws:iam::{account}:user/{user} is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::{account}:role/{role}" in text
    assert "because no identity-based policy allows the iam:CreateRole action" in text
    c.shot("denied")
    # EC2's refusal, inline on the instances page.
    c.go("/instances")
    assert c.h1() == "Instances"
    assert "UnauthorizedOperation" in c.alert()
    assert "ec2:DescribeInstances" in c.alert()
    # A key deactivated ends the session at the next request.
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    c.go("/roles")
    assert c.h1() == "Sign in"
    # A wrong secret does not sign in.
    c.go("/signin")
    c.fill("access_key_id", key["AccessKeyId"])
    c.fill("secret_access_key", key["SecretAccessKey"])
    c.submit("#key-signin")
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "not valid" in c.alert()
    assert c.cookie("rc_session") is None


def test_the_policy_editor_validates_as_you_type(console, root_keys):
    c = console
    c.sign_in(*root_keys)
    c.go("/roles/new")
    editor = c.d.find_element(By.ID, "inline_policy")
    editor.send_keys('{\n"Version": "2012-10-17",\n"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]\n}')
    c.wait(EC.text_to_be_present_in_element((By.ID, "inline_policy-validation"), "The policy is valid."))
    editor.clear()
    editor.send_keys('{\n"Version": "2012-10-17",\n"Statement": [\n  {"Effect": "Allow", "Resource": "*"}\n]\n}')
    c.wait(EC.text_to_be_present_in_element((By.ID, "inline_policy-validation"), "MalformedPolicyDocument"))
    out = c.d.find_element(By.ID, "inline_policy-validation").text
    assert "(line 4, column 4)" in out, out
    editor.send_keys("{")
    c.wait(EC.text_to_be_present_in_element((By.ID, "inline_policy-validation"), "Syntax errors in policy."))
    assert "line 6" in c.d.find_element(By.ID, "inline_policy-validation").text
    c.shot("policy-editor")


def _post(url, data, cookie=None, headers=None):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    if cookie:
        req.add_header("Cookie", cookie)
    for k, v in (headers or {}).items():
        req.add_header(k, v)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(req) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_posts_without_the_csrf_token_are_refused(console, console_server, root_keys):
    base = console_server.endpoint + "/console"
    key, secret = root_keys
    # Sign-in without the pre-session token: refused, no session.
    status, headers, _ = _post(base + "/signin", {"access_key_id": key, "secret_access_key": secret})
    assert status == 403
    assert not [h for h in headers.get_all("Set-Cookie") or [] if h.startswith("rc_session=") and "Max-Age=0" not in h]
    # With it (the double-submitted cookie), a session cookie: HttpOnly, SameSite=Strict, expiring,
    # not Secure over plain HTTP.
    status, headers, _ = _post(base + "/signin", {"access_key_id": key, "secret_access_key": secret, "csrf": "t" * 43}, cookie="rc_csrf=" + "t" * 43)
    assert status == 303
    session = [h for h in headers.get_all("Set-Cookie") if h.startswith("rc_session=")][0]
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Max-Age=28800" in session and "Secure" not in session
    cookie = session.split(";")[0]
    role = unique("csrf")
    form = {"role_name": role, "trusted": "ec2"}
    # Signed in, but no token: 403, and nothing was created.
    status, _, body = _post(base + "/roles/new", form, cookie=cookie)
    assert status == 403 and "CSRF" in body
    status, _, _ = _post(base + "/roles/new", {**form, "csrf": "wrong"}, cookie=cookie)
    assert status == 403
    iam = client_for(console_server, "iam")
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    # The session's token (from a page's form) makes the same POST go through.
    with urllib.request.urlopen(urllib.request.Request(base + "/roles/new", headers={"Cookie": cookie})) as r:
        page = r.read().decode()
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    status, headers, _ = _post(base + "/roles/new", {**form, "csrf": token}, cookie=cookie)
    assert status == 303 and headers["Location"] == f"/console/roles/{role}"
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    # Sign-out needs the token too.
    assert _post(base + "/signout", {}, cookie=cookie)[0] == 403


def test_revoke_active_sessions_denies_older_credentials(console, console_server, root_keys):
    import time

    iam = client_for(console_server, "iam")
    account = console_server.account()
    role = unique("revocable")
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=doc(allow("iam:GetRole")))
    # Roles may not be assumed by the root: a user does.
    assumer = unique("assumer")
    iam.create_user(UserName=assumer)
    iam.put_user_policy(UserName=assumer, PolicyName="assume", PolicyDocument=doc(allow("sts:AssumeRole")))
    ukey = iam.create_access_key(UserName=assumer)["AccessKey"]
    creds = client_for(console_server, "sts", key=ukey["AccessKeyId"], secret=ukey["SecretAccessKey"]).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="old")["Credentials"]
    old = client_for(console_server, "iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert old.get_role(RoleName=role)["Role"]["RoleName"] == role
    time.sleep(1.1)  # the policy's time has whole seconds: the session must be older than it
    c = console
    c.sign_in(*root_keys)
    c.go("/roles/" + role)
    c.d.find_element(By.ID, "revoke-ack").click()
    c.d.find_element(By.ID, "revoke-sessions").click()
    c.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "section[aria-labelledby=inline]"), "AWSRevokeOlderSessions"))
    statement = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and "aws:TokenIssueTime" in statement["Condition"]["DateLessThan"]
    err = pytest.raises(Exception, old.get_role, RoleName=role).value
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny" in err.response["Error"]["Message"]


def test_metadata_options_profiles_users_and_keys(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    ec2 = client_for(console_server, "ec2")
    c = console
    c.sign_in(*root_keys)
    # Actions → Modify instance metadata options.
    instance_id = ec2.run_instances(ImageId="ami-11aa22bb", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    c.go(f"/instances/{instance_id}")
    c.d.find_element(By.CSS_SELECTOR, "details.menu summary").click()
    c.d.find_element(By.ID, "modify-metadata").click()
    c.wait(EC.presence_of_element_located((By.ID, "http_tokens")))
    Select(c.d.find_element(By.ID, "http_tokens")).select_by_value("required")
    c.fill("hop_limit", "3")
    c.submit()
    c.wait(EC.presence_of_element_located((By.ID, "iam-role")))
    md = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["MetadataOptions"]
    assert md["HttpTokens"] == "required" and md["HttpPutResponseHopLimit"] == 3
    # A bad value: EC2's own error, inline.
    c.go(f"/instances/{instance_id}/metadata")
    c.fill("hop_limit", "99")
    c.d.execute_script("document.getElementById('hop_limit').removeAttribute('max')")
    c.submit()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "InvalidParameterValue" in c.alert()

    # Instance profiles: create one, add a role, remove it.
    role = unique("forprofile")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    profile = unique("profile")
    c.go("/instance-profiles")
    c.fill("profile_name", profile)
    c.d.find_element(By.CSS_SELECTOR, "main form.search button").click()
    c.wait(EC.presence_of_element_located((By.ID, f"role-for-{profile}")))
    Select(c.d.find_element(By.ID, f"role-for-{profile}")).select_by_value(role)
    c.d.find_element(By.ID, f"role-for-{profile}").find_element(By.XPATH, "../button").click()
    c.wait(EC.text_to_be_present_in_element((By.ID, "profiles"), role))
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]] == [role]
    c.shot("instance-profiles")
    row = c.d.find_element(By.XPATH, f"//table[@id='profiles']//tr[td[contains(., '{profile}')]]")
    row.find_element(By.CSS_SELECTOR, "form button").click()
    c.wait(EC.presence_of_element_located((By.ID, f"role-for-{profile}")))
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []

    # Users: create one and an access key; the secret is shown once, and it signs in.
    user = unique("dev")
    c.go("/users")
    c.fill("user_name", user)
    c.d.find_element(By.CSS_SELECTOR, "main form.search button").click()
    c.wait(EC.title_contains(user))
    c.d.find_element(By.ID, "create-key").click()
    c.wait(EC.presence_of_element_located((By.ID, "new-key-secret")))
    key_id = c.d.find_element(By.ID, "new-key-id").text
    secret = c.d.find_element(By.ID, "new-key-secret").text
    assert len(secret) == 40
    c.shot("new-access-key")
    c.go("/users/" + user)
    assert secret not in c.d.page_source  # shown once
    row = c.d.find_element(By.XPATH, f"//table[@id='access-keys']//tr[td/code[text()='{key_id}']]")
    row.find_element(By.XPATH, ".//button[text()='Make inactive']").click()
    c.wait(EC.text_to_be_present_in_element((By.ID, "access-keys"), "Inactive"))
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    c.d.find_element(By.XPATH, f"//table[@id='access-keys']//tr[td/code[text()='{key_id}']]//button[text()='Make active']").click()
    c.wait(EC.text_to_be_present_in_element((By.ID, "access-keys"), "Active"))
    c.sign_in(key_id, secret)
    assert f":user/{user}" in c.d.find_element(By.CSS_SELECTOR, "header .who").text


def test_customer_managed_policies_and_versions(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    c = console
    c.sign_in(*root_keys)
    name = unique("ReadLogs")
    c.go("/policies/new")
    c.fill("policy_name", name)
    c.set_value("document", doc(allow("logs:GetLogEvents")))
    c.submit()
    c.wait(EC.presence_of_element_located((By.ID, "versions")))
    assert c.h1() == name
    arn = f"arn:aws:iam::{console_server.account()}:policy/{name}"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    # A new version, made the default.
    c.set_value("document", doc(allow(["logs:GetLogEvents", "logs:FilterLogEvents"])))
    c.submit()
    c.wait(EC.text_to_be_present_in_element((By.ID, "versions"), "v2"))
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert "logs:FilterLogEvents" in c.d.find_element(By.CSS_SELECTOR, "section[aria-labelledby=document-h]").text
    c.shot("policy")
    # Back to v1 as the default.
    c.d.find_element(By.XPATH, "//table[@id='versions']//tr[td[text()='v1']]//button").click()
    c.wait(lambda d: iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1")
    # An invalid version: IAM's refusal, inline, the draft kept.
    c.set_value("document", '{"Version": "2012-10-17", "Statement": []}')
    c.submit()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "MalformedPolicyDocument" in c.alert()
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 2


def test_policy_simulator(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    user = unique("simulated")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.put_user_policy(UserName=user, PolicyName="get-role", PolicyDocument=doc(allow("iam:GetRole")))
    c = console
    c.sign_in(*root_keys)
    c.go("/simulator")
    c.fill("principal", arn)
    c.fill("actions", "iam:GetRole\niam:DeleteRole")
    c.submit()
    c.wait(EC.presence_of_element_located((By.ID, "results")))
    get_row = c.d.find_element(By.XPATH, "//table[@id='results']//tr[td/code[text()='iam:GetRole']]").text
    delete_row = c.d.find_element(By.XPATH, "//table[@id='results']//tr[td/code[text()='iam:DeleteRole']]").text
    assert "allowed" in get_row and "get-role" in get_row and "line 1" in get_row
    assert "implicitDeny" in delete_row


SIM_POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadTeamBlue",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "*",
      "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}
    },
    {
      "Sid": "NeverDelete",
      "Effect": "Deny",
      "Action": "s3:DeleteObject",
      "Resource": "*"
    }
  ]
}"""


def _result_row(c, action):
    return c.d.find_element(By.XPATH, f"//table[@id='results']//tr[td/code[text()='{action}']]")


def _marks(row):
    return [m.text for m in row.find_elements(By.TAG_NAME, "mark")]


def test_simulator_custom_policy_with_a_context_key_highlights_the_deciding_statement(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    c = console
    c.sign_in(*root_keys)
    c.go("/simulator")
    c.d.find_element(By.ID, "mode_custom").click()
    c.set_value("policy_1", SIM_POLICY)
    c.fill("actions", "s3:GetObject\ns3:DeleteObject\ns3:PutObject")
    c.fill("ctx_key_1", "aws:ResourceTag/team")
    Select(c.d.find_element(By.ID, "ctx_type_1")).select_by_value("string")
    c.fill("ctx_values_1", "blue")
    c.d.find_element(By.ID, "run").click()
    c.wait(EC.presence_of_element_located((By.ID, "results")))
    get, delete, put = (_result_row(c, a) for a in ("s3:GetObject", "s3:DeleteObject", "s3:PutObject"))
    assert get.find_element(By.CSS_SELECTOR, ".decision").text == "allowed"
    assert delete.find_element(By.CSS_SELECTOR, ".decision").text == "explicitDeny"
    assert put.find_element(By.CSS_SELECTOR, ".decision").text == "implicitDeny"
    # The highlighted text is exactly the statement that decided, from its { to its }.
    [allowing] = _marks(get)
    assert json.loads(allowing) == json.loads(SIM_POLICY)["Statement"][0]
    [denying] = _marks(delete)
    assert json.loads(denying) == json.loads(SIM_POLICY)["Statement"][1]
    assert _marks(put) == []
    # The same question through the API gives the same decisions.
    api = iam.simulate_custom_policy(PolicyInputList=[SIM_POLICY], ActionNames=["s3:GetObject", "s3:DeleteObject", "s3:PutObject"], ContextEntries=[{"ContextKeyName": "aws:ResourceTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"}])
    assert [r["EvalDecision"] for r in api["EvaluationResults"]] == ["allowed", "explicitDeny", "implicitDeny"]
    c.shot("simulator")
    # The form keeps what was asked; another team's tag no longer matches the condition.
    assert c.d.find_element(By.ID, "mode_custom").is_selected()
    assert c.d.find_element(By.ID, "ctx_key_1").get_attribute("value") == "aws:ResourceTag/team"
    c.fill("ctx_values_1", "red")
    c.d.find_element(By.ID, "run").click()
    c.wait(EC.text_to_be_present_in_element((By.XPATH, "//table[@id='results']//tr[td/code[text()='s3:GetObject']]"), "implicitDeny"))
    assert _marks(_result_row(c, "s3:GetObject")) == []
    # A second document, and a value of the wrong type: IAM's error, inline.
    c.set_value("policy_2", doc(allow("s3:PutObject")))
    Select(c.d.find_element(By.ID, "ctx_type_1")).select_by_value("numeric")
    c.d.find_element(By.ID, "run").click()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "InvalidInput" in c.alert() and "aws:ResourceTag/team" in c.alert()
    Select(c.d.find_element(By.ID, "ctx_type_1")).select_by_value("string")
    c.d.find_element(By.ID, "run").click()
    c.wait(EC.presence_of_element_located((By.ID, "results")))
    put = _result_row(c, "s3:PutObject")
    assert put.find_element(By.CSS_SELECTOR, ".decision").text == "allowed"
    assert "PolicyInputList.2" in put.text
    assert json.loads(_marks(put)[0])["Action"] == "s3:PutObject"
    # In Korean too.
    c.go("/simulator?lang=ko")
    assert c.h1() == "정책 시뮬레이터" and "컨텍스트 키" in c.d.find_element(By.TAG_NAME, "main").text
    c.go("/simulator?lang=en")


def test_simulator_principal_role_highlights_its_inline_and_managed_statements(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    role = unique("simrole")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    inline = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Logs", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}, {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]}, indent=2)
    iam.put_role_policy(RoleName=role, PolicyName="describe", PolicyDocument=inline)
    managed_name = unique("ReadRoles")
    managed = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "GetRoles", "Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}, indent=2)
    policy_arn = iam.create_policy(PolicyName=managed_name, PolicyDocument=managed)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    c = console
    c.sign_in(*root_keys)
    c.go("/simulator")
    c.fill("principal", arn)
    c.fill("actions", "ec2:DescribeInstances\niam:GetRole\ns3:GetObject")
    c.d.find_element(By.ID, "run").click()
    c.wait(EC.presence_of_element_located((By.ID, "results")))
    describe, get_role, s3 = (_result_row(c, a) for a in ("ec2:DescribeInstances", "iam:GetRole", "s3:GetObject"))
    assert "allowed" in describe.text and "describe (role)" in describe.text
    assert json.loads(_marks(describe)[0])["Sid"] == "Describe"
    assert "allowed" in get_role.text and f"{managed_name} (user-managed)" in get_role.text
    assert json.loads(_marks(get_role)[0]) == json.loads(managed)["Statement"][0]
    assert "implicitDeny" in s3.text and _marks(s3) == []


def test_instance_page_shows_the_imds_credential_and_its_lifetime(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    ec2 = client_for(console_server, "ec2")
    rp = role_with_profile(iam)
    inst = launch(ec2, rp.profile)
    instance_id, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    c = console
    c.sign_in(*root_keys)
    c.go(f"/instances/{instance_id}")
    # Minted lazily: nothing before the instance asks.
    assert "Not yet" in c.d.find_element(By.ID, "imds-credential").text
    assert not c.d.find_elements(By.ID, "credential-expires")
    status, body = bound_get(ip, f"{console_server.imds}/latest/meta-data/iam/security-credentials/{rp.role}")
    assert status == 200, body
    creds = json.loads(body)
    c.go(f"/instances/{instance_id}")
    assert c.d.find_element(By.ID, "credential-expires").text == creds["Expiration"]
    assert c.d.find_element(By.ID, "credential-minted").text == creds["LastUpdated"]
    left = c.d.find_element(By.ID, "credential-left").text
    assert "min left" in left and "%" in left
    bar = c.d.find_element(By.CSS_SELECTOR, "#imds-credential svg.lifetime")
    assert bar.get_attribute("role") == "img" and "Remaining lifetime" in bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert float(bar.find_element(By.CSS_SELECTOR, "rect.left").get_attribute("width")) > 0
    assert creds["SecretAccessKey"] not in c.d.page_source and creds["Token"] not in c.d.page_source
    c.shot("instance")
    c.go(f"/instances/{instance_id}?lang=ko")
    assert "남은 유효 기간" in c.d.find_element(By.ID, "imds-credential").text
    c.go(f"/instances/{instance_id}?lang=en")
    # Someone who may not describe the instance sees EC2's refusal, not the credential.
    user = unique("nodescribe")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="roles", PolicyDocument=doc(allow("iam:ListRoles")))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    c.sign_in(key["AccessKeyId"], key["SecretAccessKey"])
    c.go(f"/instances/{instance_id}")
    assert "UnauthorizedOperation" in c.alert()
    assert not c.d.find_elements(By.ID, "imds-credential")


def test_instance_tags_are_added_and_removed(console, console_server, root_keys):
    ec2 = client_for(console_server, "ec2")
    instance_id = launch(ec2)["InstanceId"]
    c = console
    c.sign_in(*root_keys)
    c.go(f"/instances/{instance_id}")
    assert "No tags." in c.d.find_element(By.CSS_SELECTOR, "section[aria-labelledby=tags-h]").text
    c.fill("tag_key", "team")
    c.fill("tag_value", "blue")
    c.d.find_element(By.CSS_SELECTOR, "#add-tag button").click()
    c.wait(EC.presence_of_element_located((By.ID, "tags")))
    tags = lambda: [(t["Key"], t["Value"]) for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]]
    assert tags() == [("team", "blue")]
    assert "team" in c.d.find_element(By.ID, "tags").text and "blue" in c.d.find_element(By.ID, "tags").text
    c.fill("tag_key", "Name")
    c.fill("tag_value", "web-1")
    c.d.find_element(By.CSS_SELECTOR, "#add-tag button").click()
    c.wait(EC.text_to_be_present_in_element((By.ID, "tags"), "web-1"))
    assert sorted(tags()) == [("Name", "web-1"), ("team", "blue")]
    c.d.find_element(By.XPATH, "//table[@id='tags']//tr[td/code[text()='team']]//button").click()
    c.wait(lambda d: "team" not in d.find_element(By.ID, "tags").text)
    assert tags() == [("Name", "web-1")]


def test_trust_policy_is_edited_and_an_invalid_one_shows_where(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    account = console_server.account()
    role = unique("trusted")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    c = console
    c.sign_in(*root_keys)
    c.go(f"/roles/{role}")
    c.d.find_element(By.ID, "edit-trust").click()
    c.wait(EC.presence_of_element_located((By.ID, "trust_policy")))
    assert "ec2.amazonaws.com" in c.d.find_element(By.ID, "trust_policy").get_attribute("value")
    new = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"})
    c.set_value("trust_policy", new)
    c.d.find_element(By.ID, "update-trust").click()
    c.wait(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), role))
    got = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert got["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
    assert f"arn:aws:iam::{account}:root" in c.d.find_element(By.CSS_SELECTOR, "section[aria-labelledby=trust]").text
    # A statement without a principal: IAM's refusal, and the editor places it.
    invalid = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},\n    {"Effect": "Allow", "Action": "sts:AssumeRole"}\n  ]\n}'
    c.d.find_element(By.ID, "edit-trust").click()
    c.wait(EC.presence_of_element_located((By.ID, "trust_policy")))
    c.set_value("trust_policy", invalid)
    c.d.find_element(By.ID, "update-trust").click()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "MalformedPolicyDocument" in c.alert()
    out = c.d.find_element(By.ID, "trust_policy-validation").text
    assert "MalformedPolicyDocument" in out and "(line 5, column 6)" in out, out
    assert c.d.find_element(By.ID, "trust_policy").get_attribute("value") == invalid
    c.shot("trust-policy")
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == got


def _denied(call, **kw):
    """The error code `call` fails with (None when it succeeds)."""
    try:
        call(**kw)
    except Exception as e:  # botocore's ClientError
        return e.response["Error"]["Code"]
    return None


def test_groups_members_and_policies(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    member = unique("member")
    iam.create_user(UserName=member)
    key = iam.create_access_key(UserName=member)["AccessKey"]
    as_member = client_for(console_server, "iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    # A managed policy granting only iam:ListGroups; the member may not list groups yet.
    policy = iam.create_policy(PolicyName=unique("ListGroupsOnly"), PolicyDocument=doc(allow("iam:ListGroups")))["Policy"]
    assert _denied(as_member.list_groups) == "AccessDenied"

    c = console
    c.sign_in(*root_keys)
    group = unique("Developers")
    c.go("/groups")
    assert c.h1() == "Groups"
    c.fill("group_name", group)
    c.submit("#create-group")
    c.wait(EC.title_contains(group))
    assert iam.get_group(GroupName=group)["Group"]["GroupName"] == group
    # The list finds it by search (readable without JavaScript: a plain table).
    c.go("/groups?q=" + urllib.parse.quote(group[3:-2].lower()))
    assert group in c.d.find_element(By.ID, "groups").text

    # Add the member on the group page.
    c.go("/groups/" + group)
    Select(c.d.find_element(By.ID, "member")).select_by_value(member)
    c.submit("#add-member")
    c.wait(EC.presence_of_element_located((By.ID, "group-members")))
    assert member in c.d.find_element(By.ID, "group-members").text
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [member]

    # Attach the managed policy: the member is now allowed exactly what it grants.
    Select(c.d.find_element(By.ID, "attach_arn")).select_by_value(policy["Arn"])
    c.submit("#attach-form")
    c.wait(EC.presence_of_element_located((By.ID, "attached-policies")))
    assert policy["Arn"] in c.d.find_element(By.ID, "attached-policies").text
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == [policy["Arn"]]
    assert group in [g["GroupName"] for g in as_member.list_groups()["Groups"]]
    assert _denied(as_member.list_users) == "AccessDenied"

    # An inline group policy with the validating editor grants iam:ListUsers too.
    c.fill("policy_name", "list-users")
    c.set_value("policy_document", doc(allow("iam:ListUsers")))
    c.submit("#inline-form")
    c.wait(EC.presence_of_element_located((By.ID, "inline-policies")))
    assert "iam:ListUsers" in c.d.find_element(By.ID, "inline-policies").text
    assert iam.get_group_policy(GroupName=group, PolicyName="list-users")["PolicyDocument"]["Statement"][0]["Action"] == "iam:ListUsers"
    assert member in [u["UserName"] for u in as_member.list_users()["Users"]]
    c.shot("group")

    # Not empty: DeleteGroup's own refusal, inline.
    c.d.find_element(By.ID, "delete-group").click()
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "DeleteConflict" in c.alert()

    # Detach, delete the inline policy, remove the member: the member loses the access.
    c.d.find_element(By.XPATH, "//table[@id='attached-policies']//button[text()='Detach']").click()
    c.wait(lambda d: not iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"])
    c.d.find_element(By.XPATH, "//ul[@id='inline-policies']//button[text()='Delete']").click()
    c.wait(lambda d: not iam.list_group_policies(GroupName=group)["PolicyNames"])
    assert _denied(as_member.list_groups) == "AccessDenied"
    c.d.find_element(By.XPATH, "//table[@id='group-members']//button[text()='Remove']").click()
    c.wait(lambda d: not iam.get_group(GroupName=group)["Users"])
    c.wait(EC.presence_of_element_located((By.ID, "delete-group")))
    c.d.find_element(By.ID, "delete-group").click()
    c.wait(lambda d: group not in [g["GroupName"] for g in iam.list_groups()["Groups"]])
    c.wait(EC.title_contains("Groups"))
    assert c.h1() == "Groups"


def test_user_policies_groups_and_tags(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    user = unique("editor")
    iam.create_user(UserName=user)
    group = unique("Ops")
    iam.create_group(GroupName=group)
    managed = iam.create_policy(PolicyName=unique("Describe"), PolicyDocument=doc(allow("ec2:DescribeInstances")))["Policy"]
    c = console
    c.sign_in(*root_keys)
    c.go("/users?q=" + urllib.parse.quote(user))
    c.d.find_element(By.LINK_TEXT, user).click()
    c.wait(EC.title_contains(user))

    # Inline policy: put with the editor, read back through the API.
    c.fill("policy_name", "read-roles")
    c.set_value("policy_document", doc(allow("iam:GetRole")))
    c.submit("#inline-form")
    c.wait(EC.presence_of_element_located((By.ID, "inline-policies")))
    assert iam.get_user_policy(UserName=user, PolicyName="read-roles")["PolicyDocument"]["Statement"][0]["Action"] == "iam:GetRole"
    # Edit: the editor is loaded with the document, saved as changed.
    c.d.find_element(By.XPATH, "//ul[@id='inline-policies']//a[text()='Edit']").click()
    c.wait(lambda d: "iam:GetRole" in d.find_element(By.ID, "policy_document").get_attribute("value"))
    assert c.d.find_element(By.ID, "policy_name").get_attribute("value") == "read-roles"
    c.set_value("policy_document", doc(allow(["iam:GetRole", "iam:ListRoles"])))
    c.submit("#inline-form")
    c.wait(lambda d: d.current_url.endswith("#inline") and "edit=" not in d.current_url)
    c.wait(lambda d: iam.get_user_policy(UserName=user, PolicyName="read-roles")["PolicyDocument"]["Statement"][0]["Action"] == ["iam:GetRole", "iam:ListRoles"])
    # An invalid document: IAM's refusal inline, the draft kept, nothing changed.
    bad = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}'
    c.set_value("policy_document", bad)
    c.fill("policy_name", "read-roles")
    c.submit("#inline-form")
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "MalformedPolicyDocument" in c.alert()
    assert c.d.find_element(By.ID, "policy_document").get_attribute("value") == bad
    assert iam.get_user_policy(UserName=user, PolicyName="read-roles")["PolicyDocument"]["Statement"][0]["Action"] == ["iam:GetRole", "iam:ListRoles"]

    # Attach a managed policy, join a group, add a tag.
    c.go("/users/" + user)
    Select(c.d.find_element(By.ID, "attach_arn")).select_by_value(managed["Arn"])
    c.submit("#attach-form")
    c.wait(EC.presence_of_element_located((By.ID, "attached-policies")))
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]] == [managed["Arn"]]
    Select(c.d.find_element(By.ID, "group")).select_by_value(group)
    c.submit("#add-to-group")
    c.wait(EC.presence_of_element_located((By.ID, "user-groups")))
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    c.fill("tag_key", "team")
    c.fill("tag_value", "platform")
    c.submit("#add-tag")
    c.wait(EC.presence_of_element_located((By.ID, "tags")))
    assert iam.list_user_tags(UserName=user)["Tags"] == [{"Key": "team", "Value": "platform"}]
    c.shot("user")

    # And undo each.
    c.d.find_element(By.XPATH, "//table[@id='user-groups']//button[text()='Remove']").click()
    c.wait(lambda d: not iam.list_groups_for_user(UserName=user)["Groups"])
    c.wait(EC.presence_of_element_located((By.ID, "attached-policies")))
    c.d.find_element(By.XPATH, "//table[@id='attached-policies']//button[text()='Detach']").click()
    c.wait(lambda d: not iam.list_attached_user_policies(UserName=user)["AttachedPolicies"])
    c.wait(EC.presence_of_element_located((By.ID, "inline-policies")))
    c.d.find_element(By.XPATH, "//ul[@id='inline-policies']//button[text()='Delete']").click()
    c.wait(lambda d: not iam.list_user_policies(UserName=user)["PolicyNames"])
    c.wait(EC.presence_of_element_located((By.ID, "tags")))
    c.d.find_element(By.XPATH, "//table[@id='tags']//tr[td/code[text()='team']]//button").click()
    c.wait(lambda d: not iam.list_user_tags(UserName=user)["Tags"])


def _console_logins(console_server, user_name=None):
    ct = client_for(console_server, "cloudtrail")
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}], MaxResults=50)["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    return [r for r in records if user_name is None or r["userIdentity"].get("userName") == user_name]


def test_password_sign_in(console, console_server):
    iam = client_for(console_server, "iam")
    account = console_server.account()
    user = unique("alice")
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password="Sekr1t-Pass!")
    iam.put_user_policy(UserName=user, PolicyName="roles-read", PolicyDocument=doc(allow("iam:ListRoles")))
    c = console

    # Success: the session acts as the IAM user, under its own policies.
    c.sign_in_with_password(user, "Sekr1t-Pass!", account=account)
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "header .who")))
    assert f"arn:aws:iam::{account}:user/{user}" in c.d.find_element(By.CSS_SELECTOR, "header .who").text
    assert c.h1() == "Roles"
    assert c.d.find_elements(By.ID, "roles") or "No roles." in c.d.find_element(By.TAG_NAME, "main").text
    c.go("/users")
    assert "AccessDenied" in c.alert()
    assert f"User: arn:aws:iam::{account}:user/{user} is not authorized to perform: iam:ListUsers" in c.alert()
    # Deleting the login profile ends the session at the next request.
    iam.delete_login_profile(UserName=user)
    c.go("/roles")
    assert c.h1() == "Sign in"
    iam.create_login_profile(UserName=user, Password="Sekr1t-Pass!")

    # Failures: one message whatever the reason, and no session.
    messages = []
    for name, password, acct in ((user, "wrong-Pass-1", ""), (unique("nobody"), "Sekr1t-Pass!", ""), (user, "Sekr1t-Pass!", "000000000000")):
        c.sign_in_with_password(name, password, account=acct)
        c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
        messages.append(c.alert())
        assert c.cookie("rc_session") is None
        assert c.h1() == "Sign in"
    assert messages[0] == messages[1] == messages[2] == "Your authentication information is incorrect. Please try again."

    # A password that must be reset does not sign in; the user is told so.
    iam.update_login_profile(UserName=user, PasswordResetRequired=True)
    c.sign_in_with_password(user, "Sekr1t-Pass!")
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert "must be reset" in c.alert()
    assert c.cookie("rc_session") is None

    # The attempts are in the audit trail as CloudTrail's ConsoleLogin (no password in them).
    def logged():
        outcomes = [r["responseElements"]["ConsoleLogin"] for r in _console_logins(console_server, user)]
        return outcomes.count("Success") >= 2 and outcomes.count("Failure") >= 2
    eventually(logged, "ConsoleLogin events")
    records = _console_logins(console_server)
    assert all(r["eventSource"] == "signin.amazonaws.com" and r["eventType"] == "AwsConsoleSignIn" for r in records)
    assert any(r["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS" for r in records)
    failure = next(r for r in _console_logins(console_server, user) if r["responseElements"]["ConsoleLogin"] == "Failure")
    assert failure["errorMessage"] == "Failed authentication"
    assert "Sekr1t" not in json.dumps(records) and "wrong-Pass" not in json.dumps(records)


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory, databases):
    """Password sign-in limited to 3 attempts a minute per user name and 8 per address."""
    args = ["--console-signin-per-user", "3", "--console-signin-per-source", "8"]
    yield from own_server(tmp_path_factory, "throttle", extra_args=args, database_url=databases())


TOO_MANY = "Too many sign-in attempts. Try again later."
INCORRECT = "Your authentication information is incorrect. Please try again."


def _password_attempt(server, source, user, password):
    """A password sign-in POST from `source` (a loopback address): (status, page)."""
    form = urllib.parse.urlencode({"method": "password", "user_name": user, "password": password, "csrf": "t" * 43}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "rc_csrf=" + "t" * 43}
    return bound_get(source, server.endpoint + "/console/signin", headers, method="POST", body=form)


def _attempts_until_throttled(server, source, users, password):
    """Attempts until one is answered 429; the statuses before it (all 200: refused)."""
    statuses = []
    for user in users:
        status, page = _password_attempt(server, source, user, password)
        if status == 429:
            assert TOO_MANY in page and INCORRECT not in page
            return statuses
        assert (status, INCORRECT in page) == (200, True)
        statuses.append(status)
    raise AssertionError(f"no attempt of {len(statuses)} from {source} was throttled")


def test_password_sign_in_is_throttled_per_user_name_and_per_address(throttled_server):
    s = throttled_server
    iam = client_for(s, "iam")
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    for user in (alice, bob, carol):
        iam.create_user(UserName=user)
        iam.create_login_profile(UserName=user, Password="Sekr1t-Pass!")
    # A user name's burst of attempts from one address, then 429 before the password is checked:
    # even the right password, in another case, signs nobody in from there...
    assert len(_attempts_until_throttled(s, "127.0.0.1", [alice] * 10, "wrong-Pass-1")) >= 3
    status, page = _password_attempt(s, "127.0.0.1", alice.upper(), "Sekr1t-Pass!")
    assert status == 429 and TOO_MANY in page
    # Throttled attempts are in the audit trail as failed ConsoleLogins (the user not looked up,
    # so hidden as for an unknown one), beside the refused ones.
    def throttled():
        return [r for r in _console_logins(s) if r.get("errorMessage") == "Too many sign-in attempts"]

    eventually(lambda: len(throttled()) >= 2, "throttled ConsoleLogin events")
    for r in throttled():
        assert r["responseElements"]["ConsoleLogin"] == "Failure" and r["sourceIPAddress"] == "127.0.0.1"
        assert r["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert len([r for r in _console_logins(s) if r.get("errorMessage") == "Failed authentication"]) >= 3
    # ... while alice herself, from another address, is not locked out (a session, 303).
    assert _password_attempt(s, "127.0.0.2", alice, "Sekr1t-Pass!")[0] == 303
    # An address's burst over many user names, then 429 for any name from it...
    names = [unique("nobody") for _ in range(20)]
    assert len(_attempts_until_throttled(s, "127.0.0.3", names, "wrong-Pass-1")) >= 8
    assert _password_attempt(s, "127.0.0.3", bob, "Sekr1t-Pass!")[0] == 429
    # ... but not from another address: bob signs in.
    assert _password_attempt(s, "127.0.0.4", bob, "Sekr1t-Pass!")[0] == 303
    # All addresses together get ten times a user's per-address allowance (3): attempts at carol
    # from one new address after another, each within its own allowance, until one is refused
    # (after about 30: the bucket refills at 30 a minute while the test runs).
    attempts = 0
    for n in range(1, 30):
        source = f"127.0.1.{n}"
        before = _attempts_until_throttled(s, source, [carol] * 4, "wrong-Pass-1")
        attempts += len(before)
        if len(before) < 3:
            break
    else:
        raise AssertionError("carol's attempts from all addresses together were never limited")
    assert attempts >= 30
    # The address that was refused for carol still signs another user in.
    assert _password_attempt(s, f"127.0.1.{n}", bob, "Sekr1t-Pass!")[0] == 303


def test_new_pages_render_in_korean(console, console_server, root_keys):
    iam = client_for(console_server, "iam")
    group = unique("KoGroup")
    iam.create_group(GroupName=group)
    c = console
    c.d.delete_all_cookies()
    c.go("/signin?lang=ko")
    assert c.h1() == "로그인"
    main = c.d.find_element(By.TAG_NAME, "main").text
    assert "IAM 사용자 이름" in main and "암호" in main and "액세스 키" in main
    c.fill("user_name", unique("nobody"))
    c.fill("password", "x")
    c.submit("#password-signin")
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "main .alert")))
    assert c.alert() == "인증 정보가 올바르지 않습니다. 다시 시도하세요."
    c.fill("access_key_id", root_keys[0])
    c.fill("secret_access_key", root_keys[1])
    c.submit("#key-signin")
    c.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "header .who")))
    c.go("/groups")
    assert c.h1() == "그룹"
    assert "그룹 생성" in c.d.find_element(By.TAG_NAME, "main").text
    c.go("/groups/" + group)
    main = c.d.find_element(By.TAG_NAME, "main").text
    assert "이 그룹의 사용자" in main and "인라인 정책" in main and "연결된 정책" in main and "그룹 삭제" in main
    c.shot("group-ko")
    c.go("/users")
    assert c.h1() == "사용자"
    c.go("/groups?lang=en")
    assert c.h1() == "Groups"


def test_new_forms_refuse_posts_without_the_csrf_token(console, console_server, root_keys):
    base = console_server.endpoint + "/console"
    iam = client_for(console_server, "iam")
    user = unique("csrfuser")
    iam.create_user(UserName=user)
    key, secret = root_keys
    status, headers, _ = _post(base + "/signin", {"access_key_id": key, "secret_access_key": secret, "csrf": "t" * 43}, cookie="rc_csrf=" + "t" * 43)
    assert status == 303
    cookie = [h for h in headers.get_all("Set-Cookie") if h.startswith("rc_session=")][0].split(";")[0]
    group = unique("csrfgroup")
    assert _post(base + "/groups", {"group_name": group}, cookie=cookie)[0] == 403
    assert _post(base + f"/users/{user}/policies", {"change": "put", "policy_name": "p", "policy_document": doc(allow("s3:*"))}, cookie=cookie)[0] == 403
    assert _post(base + f"/users/{user}/tags", {"change": "tag", "key": "k", "value": "v"}, cookie=cookie)[0] == 403
    assert group not in [g["GroupName"] for g in iam.list_groups()["Groups"]]
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert iam.list_user_tags(UserName=user)["Tags"] == []
    # A password sign-in without the pre-session token is refused before the password is checked.
    status, headers, _ = _post(base + "/signin", {"method": "password", "user_name": user, "password": "x"})
    assert status == 403
    # With the session's token the same group POST goes through.
    with urllib.request.urlopen(urllib.request.Request(base + "/groups", headers={"Cookie": cookie})) as r:
        token = r.read().decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
    status, headers, _ = _post(base + "/groups", {"group_name": group, "csrf": token}, cookie=cookie)
    assert status == 303 and headers["Location"] == f"/console/groups/{group}"
    assert iam.get_group(GroupName=group)["Group"]["GroupName"] == group
