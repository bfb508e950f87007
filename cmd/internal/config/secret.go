package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSecretBytes caps a secret read from a file: credentials are short, and
// a wrong path must not be read whole.
const MaxSecretBytes = 64 << 10

// ErrSecretUnset is returned (wrapped) by Secret when neither the variable
// nor its _FILE companion is set.
var ErrSecretUnset = errors.New("secret is not set")

// Secret returns the secret named by the environment variable name: the
// variable's value, or else the contents of the file named by the variable
// name+"_FILE" (the Docker and Kubernetes convention for mounted secrets),
// without trailing white space. An empty name returns "" and no error: the
// config names no secret. Setting both forms is an error, as is an empty
// value or file. Errors name the variables and files, never the secret.
//
// Config files hold only the NAMES of such variables (api_key_env and
// friends); this is the one place their values are read.
func Secret(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	val, hasVal := os.LookupEnv(name)
	path, hasFile := os.LookupEnv(name + "_FILE")
	switch {
	case hasVal && hasFile:
		return "", fmt.Errorf("secret %s: both %s and %s_FILE are set; set one", name, name, name)
	case hasVal:
		if val == "" {
			return "", fmt.Errorf("secret %s: the environment variable is empty", name)
		}
		return val, nil
	case hasFile:
		return readSecretFile(name, path)
	}
	return "", fmt.Errorf("secret %s: set the environment variable %s or %s_FILE: %w", name, name, name, ErrSecretUnset)
}

func readSecretFile(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret %s: %s_FILE: %w", name, name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("secret %s: %s_FILE: %w", name, name, err)
	}
	if len(b) > MaxSecretBytes {
		return "", fmt.Errorf("secret %s: %s_FILE: %s is larger than %d bytes", name, name, path, MaxSecretBytes)
	}
	s := strings.TrimRight(string(b), " \t\r\n")
	if s == "" {
		return "", fmt.Errorf("secret %s: %s_FILE: %s is empty", name, name, path)
	}
	return s, nil
}
