#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Why the broker's certificate was not accepted, during a TLS handshake that is failing (from
   libmosquitto's log callback, before it frees the connection's SSL object); NULL when it was, or
   when there is no handshake. libmosquitto itself logs only "certificate verify failed". */
static inline const char *edge_mosquitto_verify_error(struct mosquitto *mosq) {
    SSL *ssl = (SSL *)mosquitto_ssl_get(mosq);
    if (ssl == NULL) return NULL;
    long result = SSL_get_verify_result(ssl);
    return result == X509_V_OK ? NULL : X509_verify_cert_error_string(result);
}

#include <limits.h>
#include <stdio.h>
#include <openssl/pem.h>

/* Seconds until `cert` expires (negative once it has), or LONG_MIN when that cannot be told. */
static inline long edge_x509_seconds_left(X509 *cert) {
    int days = 0, seconds = 0;
    if (cert == NULL || !ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(cert))) return LONG_MIN;
    return (long)days * 86400L + seconds;
}

/* For the broker's certificate, on a connected TLS session; LONG_MIN without one. */
static inline long edge_mosquitto_peer_seconds_left(struct mosquitto *mosq) {
    SSL *ssl = (SSL *)mosquitto_ssl_get(mosq);
    if (ssl == NULL) return LONG_MIN;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    long left = edge_x509_seconds_left(cert);
    X509_free(cert);
    return left;
}

/* For the first certificate of a PEM file (an operator's, a CA's); LONG_MIN when it cannot be read. */
static inline long edge_pem_seconds_left(const char *path) {
    FILE *file = fopen(path, "r");
    if (file == NULL) return LONG_MIN;
    X509 *cert = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    long left = edge_x509_seconds_left(cert);
    X509_free(cert);
    return left;
}
