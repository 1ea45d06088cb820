package main

import (
	"fmt"
	"strings"
)

// credentialsVar is the one variable a config file's paths may name:
// where systemd puts a unit's credentials (LoadCredential=,
// LoadCredentialEncrypted=), e.g.
//
//	master_key_file: ${CREDENTIALS_DIRECTORY}/master.keys
//
// so that the keyring reaches davgate from systemd, in memory, and never
// sits in clear on disk. No other variable is expanded.
const credentialsVar = "${CREDENTIALS_DIRECTORY}"

// expandCredentials replaces ${CREDENTIALS_DIRECTORY} in the file paths
// of c with getenv("CREDENTIALS_DIRECTORY"). A path that names it while
// it is unset is an error: davgate is not running under systemd with
// credentials.
func (c *Config) expandCredentials(getenv func(string) string) error {
	dir := getenv("CREDENTIALS_DIRECTORY")
	for key, p := range map[string]*string{
		"master_key_file":              &c.MasterKeyFile,
		"tls.cert":                     &c.TLS.Cert,
		"tls.key":                      &c.TLS.Key,
		"auth.ldap.bind_password_file": &c.Auth.LDAP.BindPasswordFile,
		"auth.ldap.ca_file":            &c.Auth.LDAP.CAFile,
		"auth.kerberos.keytab":         &c.Auth.Kerberos.Keytab,
	} {
		if !strings.Contains(*p, credentialsVar) {
			continue
		}
		if dir == "" {
			return fmt.Errorf("%s: %q names %s, which is not set: run davgate from a systemd unit with LoadCredential= or LoadCredentialEncrypted=",
				key, *p, credentialsVar)
		}
		*p = strings.ReplaceAll(*p, credentialsVar, strings.TrimSuffix(dir, "/"))
	}
	return nil
}
