/* SHA-256 through OpenSSL's direct digest functions (SHA256_Init/Update/Final): unlike EVP's
   implicit fetch, they load no provider, which keeps about 2 MB of libcrypto out of the agent's
   resident memory. OpenSSL 3 marks them deprecated (for EVP's sake), not removed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

/* Ed25519 (deployment signatures) needs EVP: its first use loads libcrypto's default provider,
   which only an agent that trusts signing keys, or edgectl, ever does. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
