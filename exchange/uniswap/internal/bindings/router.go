// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package bindings

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// RouterMetaData contains all meta data concerning the Router contract.
var RouterMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"address\",\"name\":\"_factory\",\"type\":\"address\"}],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"inputs\":[],\"name\":\"factory\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountOut\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"reserveIn\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"reserveOut\",\"type\":\"uint256\"}],\"name\":\"getAmountIn\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"amountIn\",\"type\":\"uint256\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountIn\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"reserveIn\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"reserveOut\",\"type\":\"uint256\"}],\"name\":\"getAmountOut\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"amountOut\",\"type\":\"uint256\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountOut\",\"type\":\"uint256\"},{\"internalType\":\"address[]\",\"name\":\"path\",\"type\":\"address[]\"}],\"name\":\"getAmountsIn\",\"outputs\":[{\"internalType\":\"uint256[]\",\"name\":\"amounts\",\"type\":\"uint256[]\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountIn\",\"type\":\"uint256\"},{\"internalType\":\"address[]\",\"name\":\"path\",\"type\":\"address[]\"}],\"name\":\"getAmountsOut\",\"outputs\":[{\"internalType\":\"uint256[]\",\"name\":\"amounts\",\"type\":\"uint256[]\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountIn\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"amountOutMin\",\"type\":\"uint256\"},{\"internalType\":\"address[]\",\"name\":\"path\",\"type\":\"address[]\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"deadline\",\"type\":\"uint256\"}],\"name\":\"swapExactTokensForTokens\",\"outputs\":[{\"internalType\":\"uint256[]\",\"name\":\"amounts\",\"type\":\"uint256[]\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amountOut\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"amountInMax\",\"type\":\"uint256\"},{\"internalType\":\"address[]\",\"name\":\"path\",\"type\":\"address[]\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"deadline\",\"type\":\"uint256\"}],\"name\":\"swapTokensForExactTokens\",\"outputs\":[{\"internalType\":\"uint256[]\",\"name\":\"amounts\",\"type\":\"uint256[]\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	ID:  "Router",
	Bin: "0x60a0604052348015600e575f5ffd5b506040516117bd3803806117bd833981016040819052602b91603b565b6001600160a01b03166080526066565b5f60208284031215604a575f5ffd5b81516001600160a01b0381168114605f575f5ffd5b9392505050565b6080516117386100855f395f81816101020152610c6301526117385ff3fe608060405234801561000f575f5ffd5b506004361061007a575f3560e01c806385f8c2591161005857806385f8c259146100d75780638803dbee146100ea578063c45a0155146100fd578063d06ca61f14610149575f5ffd5b8063054d50d41461007e5780631f00ca74146100a457806338ed1739146100c4575b5f5ffd5b61009161008c366004611247565b61015c565b6040519081526020015b60405180910390f35b6100b76100b23660046112d1565b6102d6565b60405161009b91906113c6565b6100b76100d2366004611408565b610482565b6100916100e5366004611247565b6106cd565b6100b76100f8366004611408565b610848565b6101247f000000000000000000000000000000000000000000000000000000000000000081565b60405173ffffffffffffffffffffffffffffffffffffffff909116815260200161009b565b6100b76101573660046112d1565b61099c565b5f5f84116101f1576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602b60248201527f556e697377617056324c6962726172793a20494e53554646494349454e545f4960448201527f4e5055545f414d4f554e5400000000000000000000000000000000000000000060648201526084015b60405180910390fd5b5f831180156101ff57505f82115b61028b576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602860248201527f556e697377617056324c6962726172793a20494e53554646494349454e545f4c60448201527f495155494449545900000000000000000000000000000000000000000000000060648201526084016101e8565b5f610298856103e56114d3565b90505f6102a584836114d3565b90505f826102b5876103e86114d3565b6102bf91906114ea565b90506102cb81836114fd565b979650505050505050565b6060600282511015610344576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601e60248201527f556e697377617056324c6962726172793a20494e56414c49445f50415448000060448201526064016101e8565b815167ffffffffffffffff81111561035e5761035e611270565b604051908082528060200260200182016040528015610387578160200160208202803683370190505b50905082816001835161039a9190611535565b815181106103aa576103aa611548565b6020026020010181815250505f600183516103c59190611535565b90505b801561047b575f80610416856103df600186611535565b815181106103ef576103ef611548565b602002602001015186858151811061040957610409611548565b6020026020010151610b1c565b9150915061043e84848151811061042f5761042f611548565b602002602001015183836106cd565b8461044a600186611535565b8151811061045a5761045a611548565b6020026020010181815250505050808061047390611575565b9150506103c8565b5092915050565b606081428110156104ef576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601860248201527f556e69737761705632526f757465723a2045585049524544000000000000000060448201526064016101e8565b61052b888787808060200260200160405190810160405280939291908181526020018383602002808284375f9201919091525061099c92505050565b915086826001845161053d9190611535565b8151811061054d5761054d611548565b602002602001015110156105e3576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602b60248201527f556e69737761705632526f757465723a20494e53554646494349454e545f4f5560448201527f545055545f414d4f554e5400000000000000000000000000000000000000000060648201526084016101e8565b61068486865f8181106105f8576105f8611548565b905060200201602081019061060d91906115a9565b3361066589895f81811061062357610623611548565b905060200201602081019061063891906115a9565b8a8a600181811061064b5761064b611548565b905060200201602081019061066091906115a9565b610c14565b855f8151811061067757610677611548565b6020026020010151610d53565b6106c2828787808060200260200160405190810160405280939291908181526020018383602002808284375f92019190915250899250610eec915050565b509695505050505050565b5f5f841161075d576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602c60248201527f556e697377617056324c6962726172793a20494e53554646494349454e545f4f60448201527f55545055545f414d4f554e54000000000000000000000000000000000000000060648201526084016101e8565b5f8311801561076b57505f82115b6107f7576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602860248201527f556e697377617056324c6962726172793a20494e53554646494349454e545f4c60448201527f495155494449545900000000000000000000000000000000000000000000000060648201526084016101e8565b5f61080285856114d3565b61080e906103e86114d3565b90505f61081b8685611535565b610827906103e56114d3565b905061083381836114fd565b61083e9060016114ea565b9695505050505050565b606081428110156108b5576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601860248201527f556e69737761705632526f757465723a2045585049524544000000000000000060448201526064016101e8565b6108f1888787808060200260200160405190810160405280939291908181526020018383602002808284375f920191909152506102d692505050565b915086825f8151811061090657610906611548565b602002602001015111156105e3576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602760248201527f556e69737761705632526f757465723a204558434553534956455f494e50555460448201527f5f414d4f554e540000000000000000000000000000000000000000000000000060648201526084016101e8565b6060600282511015610a0a576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601e60248201527f556e697377617056324c6962726172793a20494e56414c49445f50415448000060448201526064016101e8565b815167ffffffffffffffff811115610a2457610a24611270565b604051908082528060200260200182016040528015610a4d578160200160208202803683370190505b50905082815f81518110610a6357610a63611548565b6020026020010181815250505f5b60018351610a7f9190611535565b81101561047b575f5f610ac3858481518110610a9d57610a9d611548565b602002602001015186856001610ab391906114ea565b8151811061040957610409611548565b91509150610aeb848481518110610adc57610adc611548565b6020026020010151838361015c565b84610af78560016114ea565b81518110610b0757610b07611548565b60209081029190910101525050600101610a71565b5f5f5f610b2985856110c4565b5090505f5f610b388787610c14565b73ffffffffffffffffffffffffffffffffffffffff16630902f1ac6040518163ffffffff1660e01b8152600401606060405180830381865afa158015610b80573d5f5f3e3d5ffd5b505050506040513d601f19601f82011682018060405250810190610ba491906115e8565b506dffffffffffffffffffffffffffff1691506dffffffffffffffffffffffffffff1691508273ffffffffffffffffffffffffffffffffffffffff168773ffffffffffffffffffffffffffffffffffffffff1614610c03578082610c06565b81815b909890975095505050505050565b6040517fe6a4390500000000000000000000000000000000000000000000000000000000815273ffffffffffffffffffffffffffffffffffffffff838116600483015282811660248301525f917f00000000000000000000000000000000000000000000000000000000000000009091169063e6a4390590604401602060405180830381865afa158015610caa573d5f5f3e3d5ffd5b505050506040513d601f19601f82011682018060405250810190610cce9190611634565b905073ffffffffffffffffffffffffffffffffffffffff8116610d4d576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601960248201527f556e697377617056324c6962726172793a204e4f5f504149520000000000000060448201526064016101e8565b92915050565b6040805173ffffffffffffffffffffffffffffffffffffffff85811660248301528481166044830152606480830185905283518084039091018152608490920183526020820180517bffffffffffffffffffffffffffffffffffffffffffffffffffffffff167f23b872dd0000000000000000000000000000000000000000000000000000000017905291515f92839290881691610df1919061164f565b5f604051808303815f865af19150503d805f8114610e2a576040519150601f19603f3d011682016040523d82523d5f602084013e610e2f565b606091505b5091509150818015610e59575080511580610e59575080806020019051810190610e599190611665565b610ee4576040517f08c379a0000000000000000000000000000000000000000000000000000000008152602060048201526024808201527f5472616e7366657248656c7065723a205452414e534645525f46524f4d5f464160448201527f494c45440000000000000000000000000000000000000000000000000000000060648201526084016101e8565b505050505050565b5f5b60018351610efc9190611535565b8110156110be575f5f848381518110610f1757610f17611548565b602002602001015185846001610f2d91906114ea565b81518110610f3d57610f3d611548565b6020026020010151915091505f610f5483836110c4565b5090505f87610f648660016114ea565b81518110610f7457610f74611548565b602002602001015190505f5f8373ffffffffffffffffffffffffffffffffffffffff168673ffffffffffffffffffffffffffffffffffffffff1614610fba57825f610fbd565b5f835b915091505f60028a51610fd09190611535565b8810610fdc5788611009565b611009868b610fec8b60026114ea565b81518110610ffc57610ffc611548565b6020026020010151610c14565b90506110158787610c14565b73ffffffffffffffffffffffffffffffffffffffff1663022c0d9f8484845f6040519080825280601f01601f19166020018201604052801561105e576020820181803683370190505b506040518563ffffffff1660e01b815260040161107e9493929190611684565b5f604051808303815f87803b158015611095575f5ffd5b505af11580156110a7573d5f5f3e3d5ffd5b505060019099019850610eee975050505050505050565b50505050565b5f5f8273ffffffffffffffffffffffffffffffffffffffff168473ffffffffffffffffffffffffffffffffffffffff1603611181576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152602560248201527f556e697377617056324c6962726172793a204944454e544943414c5f4144445260448201527f455353455300000000000000000000000000000000000000000000000000000060648201526084016101e8565b8273ffffffffffffffffffffffffffffffffffffffff168473ffffffffffffffffffffffffffffffffffffffff16106111bb5782846111be565b83835b909250905073ffffffffffffffffffffffffffffffffffffffff8216611240576040517f08c379a000000000000000000000000000000000000000000000000000000000815260206004820152601e60248201527f556e697377617056324c6962726172793a205a45524f5f41444452455353000060448201526064016101e8565b9250929050565b5f5f5f60608486031215611259575f5ffd5b505081359360208301359350604090920135919050565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52604160045260245ffd5b73ffffffffffffffffffffffffffffffffffffffff811681146112be575f5ffd5b50565b80356112cc8161129d565b919050565b5f5f604083850312156112e2575f5ffd5b82359150602083013567ffffffffffffffff8111156112ff575f5ffd5b8301601f8101851361130f575f5ffd5b803567ffffffffffffffff81111561132957611329611270565b8060051b6040517fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0603f830116810181811067ffffffffffffffff8211171561137457611374611270565b604052918252602081840181019290810188841115611391575f5ffd5b6020850194505b838510156113b7576113a9856112c1565b815260209485019401611398565b50809450505050509250929050565b602080825282518282018190525f918401906040840190835b818110156113fd5783518352602093840193909201916001016113df565b509095945050505050565b5f5f5f5f5f5f60a0878903121561141d575f5ffd5b8635955060208701359450604087013567ffffffffffffffff811115611441575f5ffd5b8701601f81018913611451575f5ffd5b803567ffffffffffffffff811115611467575f5ffd5b8960208260051b840101111561147b575f5ffd5b60209190910194509250611491606088016112c1565b95989497509295919493608090920135925050565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52601160045260245ffd5b8082028115828204841417610d4d57610d4d6114a6565b80820180821115610d4d57610d4d6114a6565b5f82611530577f4e487b71000000000000000000000000000000000000000000000000000000005f52601260045260245ffd5b500490565b81810381811115610d4d57610d4d6114a6565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52603260045260245ffd5b5f81611583576115836114a6565b507fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0190565b5f602082840312156115b9575f5ffd5b81356115c48161129d565b9392505050565b80516dffffffffffffffffffffffffffff811681146112cc575f5ffd5b5f5f5f606084860312156115fa575f5ffd5b611603846115cb565b9250611611602085016115cb565b9150604084015163ffffffff81168114611629575f5ffd5b809150509250925092565b5f60208284031215611644575f5ffd5b81516115c48161129d565b5f82518060208501845e5f920191825250919050565b5f60208284031215611675575f5ffd5b815180151581146115c4575f5ffd5b84815283602082015273ffffffffffffffffffffffffffffffffffffffff83166040820152608060608201525f8251806080840152806020850160a085015e5f60a0828501015260a07fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0601f8301168401019150509594505050505056fea2646970667358221220ca363d8ba337cf2f30a4845bc29b1c7666ebb5eed4509747050e23480beabd4964736f6c63430008250033",
}

// Router is an auto generated Go binding around an Ethereum contract.
type Router struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *Router) GetABI() abi.ABI {
	return c.abi
}

// NewRouter creates a new instance of Router.
func NewRouter() *Router {
	parsed, err := RouterMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &Router{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *Router) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackConstructor is the Go binding used to pack the parameters required for
// contract deployment.
//
// Solidity: constructor(address _factory) returns()
func (router *Router) PackConstructor(_factory common.Address) []byte {
	enc, err := router.abi.Pack("", _factory)
	if err != nil {
		panic(err)
	}
	return enc
}

// PackFactory is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc45a0155.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function factory() view returns(address)
func (router *Router) PackFactory() []byte {
	enc, err := router.abi.Pack("factory")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackFactory is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc45a0155.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function factory() view returns(address)
func (router *Router) TryPackFactory() ([]byte, error) {
	return router.abi.Pack("factory")
}

// UnpackFactory is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xc45a0155.
//
// Solidity: function factory() view returns(address)
func (router *Router) UnpackFactory(data []byte) (common.Address, error) {
	out, err := router.abi.Unpack("factory", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// PackGetAmountIn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x85f8c259.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountIn)
func (router *Router) PackGetAmountIn(amountOut *big.Int, reserveIn *big.Int, reserveOut *big.Int) []byte {
	enc, err := router.abi.Pack("getAmountIn", amountOut, reserveIn, reserveOut)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackGetAmountIn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x85f8c259.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountIn)
func (router *Router) TryPackGetAmountIn(amountOut *big.Int, reserveIn *big.Int, reserveOut *big.Int) ([]byte, error) {
	return router.abi.Pack("getAmountIn", amountOut, reserveIn, reserveOut)
}

// UnpackGetAmountIn is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x85f8c259.
//
// Solidity: function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountIn)
func (router *Router) UnpackGetAmountIn(data []byte) (*big.Int, error) {
	out, err := router.abi.Unpack("getAmountIn", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackGetAmountOut is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x054d50d4.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountOut)
func (router *Router) PackGetAmountOut(amountIn *big.Int, reserveIn *big.Int, reserveOut *big.Int) []byte {
	enc, err := router.abi.Pack("getAmountOut", amountIn, reserveIn, reserveOut)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackGetAmountOut is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x054d50d4.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountOut)
func (router *Router) TryPackGetAmountOut(amountIn *big.Int, reserveIn *big.Int, reserveOut *big.Int) ([]byte, error) {
	return router.abi.Pack("getAmountOut", amountIn, reserveIn, reserveOut)
}

// UnpackGetAmountOut is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x054d50d4.
//
// Solidity: function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) pure returns(uint256 amountOut)
func (router *Router) UnpackGetAmountOut(data []byte) (*big.Int, error) {
	out, err := router.abi.Unpack("getAmountOut", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackGetAmountsIn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1f00ca74.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function getAmountsIn(uint256 amountOut, address[] path) view returns(uint256[] amounts)
func (router *Router) PackGetAmountsIn(amountOut *big.Int, path []common.Address) []byte {
	enc, err := router.abi.Pack("getAmountsIn", amountOut, path)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackGetAmountsIn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1f00ca74.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function getAmountsIn(uint256 amountOut, address[] path) view returns(uint256[] amounts)
func (router *Router) TryPackGetAmountsIn(amountOut *big.Int, path []common.Address) ([]byte, error) {
	return router.abi.Pack("getAmountsIn", amountOut, path)
}

// UnpackGetAmountsIn is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x1f00ca74.
//
// Solidity: function getAmountsIn(uint256 amountOut, address[] path) view returns(uint256[] amounts)
func (router *Router) UnpackGetAmountsIn(data []byte) ([]*big.Int, error) {
	out, err := router.abi.Unpack("getAmountsIn", data)
	if err != nil {
		return *new([]*big.Int), err
	}
	out0 := *abi.ConvertType(out[0], new([]*big.Int)).(*[]*big.Int)
	return out0, nil
}

// PackGetAmountsOut is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd06ca61f.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function getAmountsOut(uint256 amountIn, address[] path) view returns(uint256[] amounts)
func (router *Router) PackGetAmountsOut(amountIn *big.Int, path []common.Address) []byte {
	enc, err := router.abi.Pack("getAmountsOut", amountIn, path)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackGetAmountsOut is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd06ca61f.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function getAmountsOut(uint256 amountIn, address[] path) view returns(uint256[] amounts)
func (router *Router) TryPackGetAmountsOut(amountIn *big.Int, path []common.Address) ([]byte, error) {
	return router.abi.Pack("getAmountsOut", amountIn, path)
}

// UnpackGetAmountsOut is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd06ca61f.
//
// Solidity: function getAmountsOut(uint256 amountIn, address[] path) view returns(uint256[] amounts)
func (router *Router) UnpackGetAmountsOut(data []byte) ([]*big.Int, error) {
	out, err := router.abi.Unpack("getAmountsOut", data)
	if err != nil {
		return *new([]*big.Int), err
	}
	out0 := *abi.ConvertType(out[0], new([]*big.Int)).(*[]*big.Int)
	return out0, nil
}

// PackSwapExactTokensForTokens is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x38ed1739.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) PackSwapExactTokensForTokens(amountIn *big.Int, amountOutMin *big.Int, path []common.Address, to common.Address, deadline *big.Int) []byte {
	enc, err := router.abi.Pack("swapExactTokensForTokens", amountIn, amountOutMin, path, to, deadline)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSwapExactTokensForTokens is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x38ed1739.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) TryPackSwapExactTokensForTokens(amountIn *big.Int, amountOutMin *big.Int, path []common.Address, to common.Address, deadline *big.Int) ([]byte, error) {
	return router.abi.Pack("swapExactTokensForTokens", amountIn, amountOutMin, path, to, deadline)
}

// UnpackSwapExactTokensForTokens is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x38ed1739.
//
// Solidity: function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) UnpackSwapExactTokensForTokens(data []byte) ([]*big.Int, error) {
	out, err := router.abi.Unpack("swapExactTokensForTokens", data)
	if err != nil {
		return *new([]*big.Int), err
	}
	out0 := *abi.ConvertType(out[0], new([]*big.Int)).(*[]*big.Int)
	return out0, nil
}

// PackSwapTokensForExactTokens is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8803dbee.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) PackSwapTokensForExactTokens(amountOut *big.Int, amountInMax *big.Int, path []common.Address, to common.Address, deadline *big.Int) []byte {
	enc, err := router.abi.Pack("swapTokensForExactTokens", amountOut, amountInMax, path, to, deadline)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSwapTokensForExactTokens is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x8803dbee.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) TryPackSwapTokensForExactTokens(amountOut *big.Int, amountInMax *big.Int, path []common.Address, to common.Address, deadline *big.Int) ([]byte, error) {
	return router.abi.Pack("swapTokensForExactTokens", amountOut, amountInMax, path, to, deadline)
}

// UnpackSwapTokensForExactTokens is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x8803dbee.
//
// Solidity: function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) returns(uint256[] amounts)
func (router *Router) UnpackSwapTokensForExactTokens(data []byte) ([]*big.Int, error) {
	out, err := router.abi.Unpack("swapTokensForExactTokens", data)
	if err != nil {
		return *new([]*big.Int), err
	}
	out0 := *abi.ConvertType(out[0], new([]*big.Int)).(*[]*big.Int)
	return out0, nil
}
