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
