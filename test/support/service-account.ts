import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServiceAccount {
  json: { type: 'service_account'; project_id: string; private_key_id: string; private_key: string; client_email: string; client_id: string; token_uri: string };
  publicKey: string;
  email: string;
}

/** A real RSA service-account key, made fresh for a test run; Google never sees it. */
export function makeServiceAccount(name = 'gateway'): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const email = `${name}@test-project.iam.gserviceaccount.com`;
  return {
    email,
    publicKey,
    json: {
      type: 'service_account',
      project_id: 'test-project',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey,
      client_email: email,
      client_id: '1234567890',
      token_uri: 'https://oauth2.googleapis.com/token',
    },
  };
}

export function writeServiceAccount(dir: string, sa: ServiceAccount): string {
  const path = join(dir, 'service-account.json');
  writeFileSync(path, JSON.stringify(sa.json), { mode: 0o600 });
  return path;
}
