// Drives edgegate's API with the AWS SDK for JavaScript v3 (a second serialiser beside botocore):
// creates a cache policy, a response headers policy and a distribution using both, reads each
// config back, and prints the ids and read-back configs as JSON for tests/api_sdk.rs to compare
// with boto3's. EG_ENDPOINT is the admin listener.
import {
  CloudFrontClient,
  CreateCachePolicyCommand,
  CreateDistributionCommand,
  CreateResponseHeadersPolicyCommand,
  GetCachePolicyConfigCommand,
  GetDistributionConfigCommand,
  GetResponseHeadersPolicyConfigCommand,
  ListDistributionsByResponseHeadersPolicyIdCommand,
} from "@aws-sdk/client-cloudfront";

const cf = new CloudFrontClient({
  endpoint: process.env.EG_ENDPOINT,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});

const cp = await cf.send(new CreateCachePolicyCommand({
  CachePolicyConfig: {
    Name: "sdk-js", Comment: "", MinTTL: 5, DefaultTTL: 60, MaxTTL: 600,
    ParametersInCacheKeyAndForwardedToOrigin: {
      EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: false,
      HeadersConfig: { HeaderBehavior: "whitelist", Headers: { Quantity: 1, Items: ["Origin"] } },
      CookiesConfig: { CookieBehavior: "none" },
      QueryStringsConfig: { QueryStringBehavior: "allExcept", QueryStrings: { Quantity: 1, Items: ["utm"] } },
    },
  },
}));
const rhp = await cf.send(new CreateResponseHeadersPolicyCommand({
  ResponseHeadersPolicyConfig: {
    Name: "sdk-js", Comment: "two serialisers",
    CorsConfig: {
      AccessControlAllowOrigins: { Quantity: 1, Items: ["https://a.example"] },
      AccessControlAllowHeaders: { Quantity: 1, Items: ["*"] },
      AccessControlAllowMethods: { Quantity: 2, Items: ["GET", "OPTIONS"] },
      AccessControlAllowCredentials: false,
      AccessControlMaxAgeSec: 600,
      OriginOverride: true,
    },
    SecurityHeadersConfig: {
      FrameOptions: { Override: true, FrameOption: "DENY" },
      StrictTransportSecurity: { Override: false, IncludeSubdomains: true, AccessControlMaxAgeSec: 31536000 },
    },
    ServerTimingHeadersConfig: { Enabled: true, SamplingRate: 12.5 },
    CustomHeadersConfig: { Quantity: 1, Items: [{ Header: "X-Env", Value: "", Override: false }] },
    RemoveHeadersConfig: { Quantity: 1, Items: [{ Header: "X-Powered-By" }] },
  },
}));
const dist = await cf.send(new CreateDistributionCommand({
  DistributionConfig: {
    CallerReference: "sdk-js", Comment: "", Enabled: true,
    Origins: { Quantity: 1, Items: [{ Id: "o1", DomainName: "origin.example.com",
      CustomOriginConfig: { HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "http-only" } }] },
    DefaultCacheBehavior: {
      TargetOriginId: "o1", ViewerProtocolPolicy: "redirect-to-https",
      CachePolicyId: cp.CachePolicy.Id, ResponseHeadersPolicyId: rhp.ResponseHeadersPolicy.Id,
    },
  },
}));
const ids = { cp: cp.CachePolicy.Id, rhp: rhp.ResponseHeadersPolicy.Id, dist: dist.Distribution.Id };
const out = {
  ids,
  created: {
    cp: cp.CachePolicy.CachePolicyConfig,
    rhp: rhp.ResponseHeadersPolicy.ResponseHeadersPolicyConfig,
    dist: dist.Distribution.DistributionConfig,
  },
  get: {
    cp: (await cf.send(new GetCachePolicyConfigCommand({ Id: ids.cp }))).CachePolicyConfig,
    rhp: (await cf.send(new GetResponseHeadersPolicyConfigCommand({ Id: ids.rhp }))).ResponseHeadersPolicyConfig,
    dist: (await cf.send(new GetDistributionConfigCommand({ Id: ids.dist }))).DistributionConfig,
  },
  by_rhp: (await cf.send(new ListDistributionsByResponseHeadersPolicyIdCommand({ ResponseHeadersPolicyId: ids.rhp })))
    .DistributionIdList.Items,
};
console.log(JSON.stringify(out));
