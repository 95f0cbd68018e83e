// Prints the caller identity of the credentials the SDK finds on its own (the default chain,
// which ends at the instance metadata service), or, with --imds, of fromInstanceMetadata().
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromInstanceMetadata } from "@aws-sdk/credential-providers";

const explicit = process.argv.includes("--imds");
const client = new STSClient(explicit ? { credentials: fromInstanceMetadata({ maxRetries: 1 }) } : {});
const id = await client.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({ Arn: id.Arn, Account: id.Account, UserId: id.UserId }));
