package dict

import "fmt"

func openCIDR(_ *Registry, name string) (Table, error) {
	return nil, fmt.Errorf("cidr: not implemented yet")
}

func openTexthash(_ *Registry, name string) (Table, error) {
	return nil, fmt.Errorf("texthash: not implemented yet")
}

func openRegexp(_ *Registry, name string) (Table, error) {
	return nil, fmt.Errorf("regexp: not implemented yet")
}

func openPCRE(_ *Registry, name string) (Table, error) {
	return nil, fmt.Errorf("pcre: not implemented yet")
}
